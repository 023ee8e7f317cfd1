// mpforge_demo: the example user C module of mpforge's docs/c-modules.md.
//
//   >>> import mpforge_demo
//   >>> mpforge_demo.fletcher16(b"abcde")
//   51440
//   >>> mpforge_demo.BUILT_BY
//   'mpforge'
//
// fletcher16(data) is the Fletcher-16 checksum of any object with the buffer
// protocol (bytes, bytearray, memoryview, array): a loop that is slow in
// Python and a few cycles per byte in C.

#include "py/runtime.h"

static mp_obj_t mpforge_demo_fletcher16(mp_obj_t data) {
    mp_buffer_info_t info;
    mp_get_buffer_raise(data, &info, MP_BUFFER_READ);
    const uint8_t *bytes = info.buf;
    uint32_t sum1 = 0;
    uint32_t sum2 = 0;
    for (size_t i = 0; i < info.len; i++) {
        sum1 = (sum1 + bytes[i]) % 255;
        sum2 = (sum2 + sum1) % 255;
    }
    return MP_OBJ_NEW_SMALL_INT((sum2 << 8) | sum1);
}
static MP_DEFINE_CONST_FUN_OBJ_1(mpforge_demo_fletcher16_obj, mpforge_demo_fletcher16);

static const mp_rom_map_elem_t mpforge_demo_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_mpforge_demo) },
    { MP_ROM_QSTR(MP_QSTR_fletcher16), MP_ROM_PTR(&mpforge_demo_fletcher16_obj) },
    { MP_ROM_QSTR(MP_QSTR_BUILT_BY), MP_ROM_QSTR(MP_QSTR_mpforge) },
};
static MP_DEFINE_CONST_DICT(mpforge_demo_globals, mpforge_demo_globals_table);

const mp_obj_module_t mpforge_demo_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&mpforge_demo_globals,
};

// The name `import` finds it by: one per module, unique in the firmware.
MP_REGISTER_MODULE(MP_QSTR_mpforge_demo, mpforge_demo_module);
