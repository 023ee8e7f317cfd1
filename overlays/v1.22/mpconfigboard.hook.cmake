# >>> mpforge: include mpconfigvariant_<VARIANT>.cmake (`invoke overlay --revert` removes this block)
if(MICROPY_BOARD_VARIANT AND EXISTS ${MICROPY_BOARD_DIR}/mpconfigvariant_${MICROPY_BOARD_VARIANT}.cmake)
    include(${MICROPY_BOARD_DIR}/mpconfigvariant_${MICROPY_BOARD_VARIANT}.cmake)
endif()
# <<< mpforge
