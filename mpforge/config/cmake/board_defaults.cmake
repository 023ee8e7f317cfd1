# mpforge: evaluate a MicroPython esp32 board the way ports/esp32/CMakeLists.txt
# does, without ESP-IDF or a toolchain, and write what it set.
#
#   cmake -DMICROPY_PORT_DIR=<ports/esp32> -DMICROPY_BOARD_DIR=<board dir>
#         -DMICROPY_BOARD_VARIANT=<variant> -DMPFORGE_IDF_VERSION=5.2.2
#         -DMPFORGE_CHECK_VARIANT=ON|OFF -DMPFORGE_OUTPUT=<file> -P board_defaults.cmake
#
# Run with the port dir as the working directory: the port's build resolves
# relative include() and SDKCONFIG_DEFAULTS entries against it.
#
# What the port's CMakeLists.txt does, per release line
# (docs/micropython-esp32.md §1, §2):
# - v1.23-v1.24: SDKCONFIG_IDF_VERSION_SPECIFIC is boards/sdkconfig.idf52 for
#   IDF >= 5.2 (the file exists only in those releases), else empty;
# - v1.24 on (MPFORGE_CHECK_VARIANT=ON): a variant without its
#   mpconfigvariant_<V>.cmake is a fatal error; the variant file is included
#   after mpconfigboard.cmake (mpconfigvariant.cmake, optional, without one);
# - v1.22-v1.23 (OFF): only mpconfigboard.cmake; an unknown variant is ignored.
cmake_minimum_required(VERSION 3.12)

foreach(required MICROPY_PORT_DIR MICROPY_BOARD_DIR MPFORGE_OUTPUT)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "mpforge: ${required} is not set")
    endif()
endforeach()

if(NOT EXISTS ${MICROPY_BOARD_DIR}/mpconfigboard.cmake)
    message(FATAL_ERROR "Invalid MICROPY_BOARD specified: ${MICROPY_BOARD_DIR} has no mpconfigboard.cmake")
endif()

if(MPFORGE_CHECK_VARIANT AND MICROPY_BOARD_VARIANT)
    if(NOT EXISTS ${MICROPY_BOARD_DIR}/mpconfigvariant_${MICROPY_BOARD_VARIANT}.cmake)
        message(FATAL_ERROR "Invalid MICROPY_BOARD_VARIANT specified: ${MICROPY_BOARD_VARIANT}")
    endif()
endif()

set(SDKCONFIG_IDF_VERSION_SPECIFIC "")
if(MPFORGE_IDF_VERSION AND MPFORGE_IDF_VERSION VERSION_GREATER_EQUAL "5.2.0"
        AND EXISTS ${MICROPY_PORT_DIR}/boards/sdkconfig.idf52)
    set(SDKCONFIG_IDF_VERSION_SPECIFIC boards/sdkconfig.idf52)
endif()

set(SDKCONFIG_DEFAULTS "")
set(MICROPY_DEF_BOARD "")
include(${MICROPY_BOARD_DIR}/mpconfigboard.cmake)
if(MPFORGE_CHECK_VARIANT)
    if(NOT MICROPY_BOARD_VARIANT)
        include(${MICROPY_BOARD_DIR}/mpconfigvariant.cmake OPTIONAL)
    else()
        include(${MICROPY_BOARD_DIR}/mpconfigvariant_${MICROPY_BOARD_VARIANT}.cmake)
    endif()
endif()

# One item a line: "defaults <entry>", "def_board <entry>", "target <IDF_TARGET>".
set(out "")
foreach(entry IN LISTS SDKCONFIG_DEFAULTS)
    string(APPEND out "defaults ${entry}\n")
endforeach()
foreach(entry IN LISTS MICROPY_DEF_BOARD)
    string(APPEND out "def_board ${entry}\n")
endforeach()
string(APPEND out "target ${IDF_TARGET}\n")
file(WRITE ${MPFORGE_OUTPUT} "${out}")
