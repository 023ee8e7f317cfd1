# mpforge_demo for the CMake ports (esp32, rp2): one INTERFACE library that
# carries the module's sources and include folder, linked into `usermod`,
# the target MicroPython's py/usermod.cmake collects user C modules from.
add_library(usermod_mpforge_demo INTERFACE)

target_sources(usermod_mpforge_demo INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/mpforge_demo.c
)

target_include_directories(usermod_mpforge_demo INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
)

target_link_libraries(usermod INTERFACE usermod_mpforge_demo)
