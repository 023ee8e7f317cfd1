# mpforge board probe: runs ON the board (MicroPython v1.22 to v1.28, any
# stock ESP32-S3 build) and prints one line of JSON with what
# `invoke verify` checks. A module or function the build lacks is reported
# as null, with the reason under "errors"; the probe itself never fails.
#
# Keys:
#   machine        os.uname().machine: "<MICROPY_HW_BOARD_NAME> with ESP32S3",
#                  the same string as the REPL banner
#   version        sys.implementation.version as "1.28.0"
#   uname_version  os.uname().version, e.g. "v1.28.0-dirty on 2026-01-01"
#   build          sys.implementation._build, "BOARD-VARIANT" (v1.25.0 on;
#                  null before)
#   flash_size     esp.flash_size(): the configured size up to v1.25, the
#                  physical chip size from v1.26
#   psram_heap     bytes of PSRAM in the heap: the total of the
#                  esp32.idf_heap_info(esp32.HEAP_DATA) regions that are
#                  PSRAM (on an S3 the internal RAM regions are all far below
#                  1 MB, PSRAM regions are MBs); gc.mem_free() only when
#                  idf_heap_info is missing ("psram_source" says which)
#   psram_free     free bytes in those PSRAM regions
#   gc_free        gc.mem_free()
#   fs_size        os.statvfs('/'): fragment size x blocks
#   fs_free        os.statvfs('/'): fragment size x free blocks
#   freq           machine.freq() in Hz
#   partitions     esp32.Partition (same API v1.22-v1.28): {"running": the
#                  running app, "apps": every app partition, "fs": the data
#                  partition labelled "vfs" (else "ffat") the firmware mounts,
#                  or null}; each as [type, subtype, address, size, label]
#   imports        for each name in MPFORGE_IMPORTS (set by verify before the
#                  probe runs): the module's __file__ ("" when it has none),
#                  or "ImportError: ..." when it does not import. Frozen
#                  modules do not live under "/" (the filesystem); a C
#                  module built in has no __file__.


def _mpforge_probe():
    import json

    result = {}
    errors = {}

    def put(key, read):
        try:
            result[key] = read()
        except Exception as exc:  # ImportError, AttributeError, OSError, ...
            result[key] = None
            errors[key] = "%s: %s" % (type(exc).__name__, exc)

    def uname(field):
        import os

        return getattr(os.uname(), field)

    def version():
        import sys

        return ".".join([str(v) for v in sys.implementation.version[:3]])

    def build():
        import sys

        return getattr(sys.implementation, "_build", None)

    def flash_size():
        import esp

        return esp.flash_size()

    def psram():
        import esp32

        total = 0
        free = 0
        for region in esp32.idf_heap_info(esp32.HEAP_DATA):
            if region[0] >= 1048576:
                total += region[0]
                free += region[1]
        return total, free

    def gc_free():
        import gc

        gc.collect()
        return gc.mem_free()

    def statvfs():
        import os

        st = os.statvfs("/")
        frsize = st[1] or st[0]
        return frsize * st[2], frsize * st[3]

    def freq():
        import machine

        hz = machine.freq()
        if isinstance(hz, tuple):
            hz = hz[0]
        return hz

    def parts():
        from esp32 import Partition

        def info(part):
            return list(part.info()[:5])

        fs = Partition.find(Partition.TYPE_DATA, label="vfs") or Partition.find(Partition.TYPE_DATA, label="ffat")
        return {"running": info(Partition(Partition.RUNNING)),
                "apps": [info(p) for p in Partition.find(Partition.TYPE_APP)],
                "fs": info(fs[0]) if fs else None}

    put("machine", lambda: uname("machine"))
    put("version", version)
    put("uname_version", lambda: uname("version"))
    put("build", build)
    put("flash_size", flash_size)
    put("gc_free", gc_free)
    put("psram", psram)
    heap = result.pop("psram")
    if heap is not None:
        result["psram_heap"], result["psram_free"] = heap
        result["psram_source"] = "idf_heap_info"
    else:
        errors["psram_heap"] = errors.pop("psram")
        result["psram_heap"] = result["gc_free"]
        result["psram_free"] = result["gc_free"]
        result["psram_source"] = "gc.mem_free" if result["gc_free"] is not None else None
    put("fs", statvfs)
    fs = result.pop("fs")
    if fs is not None:
        result["fs_size"], result["fs_free"] = fs
    else:
        errors["fs_size"] = errors.pop("fs")
        result["fs_size"] = result["fs_free"] = None
    put("freq", freq)
    put("partitions", parts)
    imports = {}
    for name in globals().get("MPFORGE_IMPORTS") or ():
        try:
            module = __import__(name)
            imports[name] = getattr(module, "__file__", "") or ""
        except Exception as exc:
            imports[name] = "%s: %s" % (type(exc).__name__, exc)
    result["imports"] = imports
    result["errors"] = errors
    print(json.dumps(result))


_mpforge_probe()
del _mpforge_probe
