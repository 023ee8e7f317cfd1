// A simulated ESP32-S3 board for mpforge's tests: the real MicroPython REPL
// (the WebAssembly port, npm @micropython/micropython-webassembly-pyscript,
// pinned in package.json) behind a serial-like byte stream.
//
//   node repl_server.mjs stdio      the REPL on stdin/stdout (the test attaches
//                                   a PTY master, clients open the slave)
//   node repl_server.mjs tcp:PORT   the REPL on 127.0.0.1:PORT (socket://);
//                                   PORT 0 picks a free one. The first line on
//                                   stdout is "listening PORT".
//
// What is real: the MicroPython VM, its compiler, its REPL and raw REPL
// (Ctrl-C, Ctrl-A, Ctrl-B, Ctrl-D, the "OK ... \x04 ... \x04>" framing),
// json, gc and every builtin the probe uses.
//
// What is simulated, and why: the wasm port has no `esp`, `esp32` or
// `machine` module, its os has no uname(), and its sys.implementation
// (version 1.27.0, _build 'pyscript') is read-only. MicroPython's import
// looks in sys.modules before its table of built-in modules, so the
// smallest way to show board figures to the *unmodified* probe is to load
// small Python modules from the wasm filesystem and place them in
// sys.modules before the REPL starts:
//   esp      flash_size()                          SIM_FLASH_SIZE (bytes)
//   esp32    idf_heap_info(HEAP_DATA), HEAP_DATA   internal RAM regions (all
//            well under 1 MB, as on an S3) plus one PSRAM region of
//            SIM_PSRAM_SIZE bytes (none when 0)
//            Partition: RUNNING, TYPE_APP, TYPE_DATA, Partition(id or label),
//            .info() and Partition.find(type, subtype, label) over the table
//            SIM_PARTITIONS ("label:type:subtype:offset:size,..."; default:
//            the reference board's v1.28 table with the vfs made at boot);
//            the running one is SIM_RUNNING_PARTITION (default: first app)
//   machine  freq()                                SIM_CPU_HZ
//   os       the real os, plus uname() (machine = SIM_MACHINE,
//            release = SIM_VERSION) and statvfs('/') (SIM_FS_SIZE bytes in
//            4096-byte blocks)
//   sys      the real sys, with implementation.version = SIM_VERSION and
//            implementation._build = SIM_BUILD (absent when SIM_BUILD is
//            empty, as before MicroPython v1.25.0)
//   gc       only when SIM_GC_FREE is set: mem_free() returns it (the wasm
//            heap grows on demand and reports ~140 MB free otherwise)
// SIM_FROZEN is a comma-separated list of modules that import the way frozen
// ones do: their __file__ is not under "/" (the board's filesystem).
// SIM_BUILTIN is a comma-separated list of modules that import the way C
// modules built into the firmware do: no __file__ (Python stand-ins).
// SIM_MISSING is a comma-separated list of those modules to leave out (e.g.
// "esp32" for a build without it). SIM_RUNNING=TEXT simulates a program
// (main.py) running at start and printing TEXT every 50 ms: bytes sent to it
// are dropped until a Ctrl-C stops it with a KeyboardInterrupt, as on a board
// (the wasm VM cannot run a loop and serve the REPL at once, so this part is
// done here, not in MicroPython). The defaults are the reference board,
// ESP32-S3-DevKitC-1-N16R8 with mpforge's FLASH_16M_SPIRAM_OCT build of
// v1.28.0. The banner printed at start is the wasm port's own: verify does
// not rely on it (it reads the same string from os.uname().machine).
//
// One shim, raw-paste mode (Ctrl-E 'A' Ctrl-A in the raw REPL, which every
// esp32 release mpforge builds supports): the wasm port says yes but cannot
// then read stdin inside its callback, so the exchange would hang. The server
// speaks raw-paste's flow control itself, as pyexec does on a board: "R\x01"
// and the window size, a \x01 for each window of code taken in, and on the
// host's Ctrl-D a \x04; then it hands the code to the real raw REPL as a plain
// raw-REPL exchange, whose "OK" it does not show (raw-paste sends none).
// SIM_RAW_PASTE=0 is a board built without raw-paste: the server drops the
// Ctrl-E 'A' pair, the firmware sees a bare Ctrl-A and re-prints the raw REPL
// banner, and clients take their "no raw-paste" path.

import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import net from "node:net";

const env = process.env;
const num = (name, dflt) => {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`repl_server: ${name}=${v} is not a whole number\n`);
    process.exit(2);
  }
  return n;
};
const str = (name, dflt) => (env[name] === undefined ? dflt : env[name]);

const MB = 1024 * 1024;
const board = {
  machine: str("SIM_MACHINE", "ESP32S3 microcontroller with 16MB of Flash & Octal-SPIRAM with ESP32S3"),
  version: str("SIM_VERSION", "1.28.0"),
  build: str("SIM_BUILD", "ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT"),
  flash: num("SIM_FLASH_SIZE", 16 * MB),
  psram: num("SIM_PSRAM_SIZE", 8 * MB),
  fs: num("SIM_FS_SIZE", 14 * MB),
  cpu: num("SIM_CPU_HZ", 240000000),
  gcFree: env.SIM_GC_FREE ? num("SIM_GC_FREE", 0) : null,
  missing: new Set(str("SIM_MISSING", "").split(",").map((s) => s.trim()).filter(Boolean)),
};
const parts = str("SIM_PARTITIONS",
  `nvs:1:2:0x9000:0x6000,phy_init:1:1:0xf000:0x1000,factory:0:0:0x10000:0x1f0000,` +
  `vfs:1:0x81:0x200000:${16 * MB - 0x200000}`)
  .split(",").filter(Boolean).map((e) => {
    const [label, type, subtype, offset, size] = e.split(":");
    return [Number(type), Number(subtype), Number(offset), Number(size), label];
  });
const runningPart = str("SIM_RUNNING_PARTITION", (parts.find((p) => p[0] === 0) || [, , , , ""])[4]);
const versionTuple = board.version.split(".").map((p) => parseInt(p, 10) || 0);
while (versionTuple.length < 3) versionTuple.push(0);
const py = (v) => JSON.stringify(v); // JSON strings and integers are valid Python literals

// Internal RAM regions of an ESP32-S3 as idf_heap_info reports them
// (total, free, largest free block, minimum free): all far below 1 MB.
const regions = [
  [7152, 4096, 4096, 3800],
  [16384, 15800, 15360, 15000],
  [32768, 30000, 28672, 27000],
  [321536, 180000, 172032, 150000],
];
if (board.psram > 0) {
  const total = board.psram - 2 * 1024; // IDF keeps a little of the mapped PSRAM
  regions.push([total, total - 96 * 1024, total - 128 * 1024, total - 160 * 1024]);
}

const modules = {
  esp: `_FLASH = ${board.flash}
def flash_size():
    return _FLASH
def flash_user_start():
    return 0x200000
def osdebug(*args):
    pass
`,
  esp32: `HEAP_DATA = 4
HEAP_EXEC = 1
_REGIONS = ${py(regions)}
def idf_heap_info(capabilities):
    return [tuple(r) for r in _REGIONS] if capabilities & HEAP_DATA else []
_PARTS = ${py(parts)}
class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1
    def __init__(self, id, block_size=4096):
        label = ${py(runningPart)} if id in (0, 1) else id
        for p in _PARTS:
            if p[4] == label:
                self._p = p
                return
        raise OSError(2)
    def info(self):
        return (self._p[0], self._p[1], self._p[2], self._p[3], self._p[4], False)
    @staticmethod
    def find(type=0, subtype=255, label=None, block_size=4096):
        return [Partition(p[4]) for p in _PARTS if p[0] == type and subtype in (255, p[1]) and label in (None, p[4])]
`,
  machine: `_FREQ = ${board.cpu}
def freq(*args):
    return _FREQ
`,
  os: `from os import *
class _Uname:
    sysname = 'esp32'
    nodename = 'esp32'
    release = ${py(board.version)}
    version = ${py("v" + board.version + " on 2026-01-01")}
    machine = ${py(board.machine)}
    def __repr__(self):
        return "(sysname='esp32', nodename='esp32', release=%r, version=%r, machine=%r)" % (
            self.release, self.version, self.machine)
def uname():
    return _Uname()
_FS_BLOCKS = ${Math.floor(board.fs / 4096)}
def statvfs(path):
    return (4096, 4096, _FS_BLOCKS, _FS_BLOCKS - 8, _FS_BLOCKS - 8, 0, 0, 0, 0, 255)
`,
  sys: `from sys import *
class _Implementation:
    name = 'micropython'
    version = ${py([...versionTuple.slice(0, 3), ""])}
    _machine = ${py(board.machine)}
    _mpy = 10502
${board.build ? `    _build = ${py(board.build)}\n` : ""}implementation = _Implementation()
version = ${py("3.4.0; MicroPython v" + board.version + " on 2026-01-01")}
platform = 'esp32'
`,
};
if (board.gcFree !== null) {
  modules.gc = `from gc import *
def mem_free():
    return ${board.gcFree}
`;
}

let out = (b) => process.stdout.write(b);
let hideOK = 0; // bytes of the raw REPL's "OK" still to leave out after a raw-paste
function fromBoard(b) {
  let i = 0;
  while (hideOK > 0 && i < b.length) {
    if (b[i] !== "OK".charCodeAt(2 - hideOK)) {
      hideOK = 0;
      break;
    }
    hideOK--;
    i++;
  }
  if (i < b.length) out(i ? b.subarray(i) : b);
}
const mp = await loadMicroPython({
  heapsize: 4 * MB,
  linebuffer: false,
  stdout: fromBoard,
  stderr: fromBoard,
});

// Load each module under a private name, then register it under the real
// one; "sys" and "os" last, so the others see the real ones while loading.
mp.FS.mkdir("/sim");
const order = ["esp", "esp32", "machine", "gc", "os", "sys"].filter(
  (name) => modules[name] !== undefined && !board.missing.has(name),
);
for (const name of order) mp.FS.writeFile(`/sim/_sim_${name}.py`, modules[name]);
const frozen = (env.SIM_FROZEN || "").split(",").map((s) => s.trim()).filter(Boolean);
for (const name of frozen) mp.FS.writeFile(`/sim/${name}.py`, `# simulated frozen module ${name}\n`);
const builtin = (env.SIM_BUILTIN || "").split(",").map((s) => s.trim()).filter(Boolean);
for (const name of builtin) mp.FS.writeFile(`/sim/${name}.py`, `# stand-in for the C module ${name}\n`);
mp.runPython(
  "import sys\nsys.path.append('/sim')\n" +
    order.map((n) => `import _sim_${n}\nsys.modules['${n}'] = _sim_${n}\n`).join("") +
    frozen.map((n) => `import ${n}\n${n}.__file__ = '.frozen/${n}.py'\ndel ${n}\n`).join("") +
    builtin.map((n) => `import ${n}\ndel ${n}.__file__\ndel ${n}\n`).join("") +
    "sys.path.remove('/sim')\ndel sys\n" +
    order.map((n) => `del _sim_${n}\n`).join(""),
);

// Feed bytes to the REPL one at a time, in order.
let chain = Promise.resolve();
function feedByte(c) {
  chain = chain
    .then(() => mp.replProcessCharWithAsyncify(c))
    .then((r) => {
      if (r) {
        // Ctrl-D at the friendly REPL: a board soft-resets and shows the REPL again.
        out(Buffer.from("MPY: soft reboot\r\n"));
        mp.replInit();
      }
    });
}
let running = null; // the simulated main.py (SIM_RUNNING), until Ctrl-C
function startProgram() {
  const text = env.SIM_RUNNING;
  if (!text) return false;
  running = setInterval(() => out(Buffer.from(text + "\r\n")), 50);
  return true;
}
const RAW_PASTE = str("SIM_RAW_PASTE", "1") !== "0";
const WINDOW = 256; // bytes per raw-paste window (MicroPython's default REPL stdin buffer)
let paste = null; // the code received in raw-paste mode, until the host's Ctrl-D
let escape = []; // a Ctrl-E and what followed it, until it is known to ask for raw-paste
function pasteByte(c) {
  if (c !== 0x04) {
    paste.push(c);
    if (paste.length % WINDOW === 0) out(Buffer.from([0x01]));
    return;
  }
  out(Buffer.from([0x04])); // end of code acknowledged; the output follows
  const code = paste;
  paste = null;
  hideOK = 2;
  for (const b of code) feedByte(b);
  feedByte(0x04);
}
function feed(data) {
  for (const c of data) {
    if (running !== null) {
      if (c !== 0x03) continue;
      clearInterval(running);
      running = null;
      out(Buffer.from('Traceback (most recent call last):\r\n  File "main.py", line 4, in <module>\r\n' +
                      "KeyboardInterrupt: \r\n"));
      mp.replInit();
      continue;
    }
    if (paste !== null) {
      pasteByte(c);
      continue;
    }
    if (escape.length) {
      escape.push(c);
      if (escape.length === 2 && c === 0x41) {
        if (!RAW_PASTE) escape = []; // drop the request: the firmware sees the Ctrl-A that follows
        continue;
      }
      if (escape.length === 3 && c === 0x01) {
        escape = [];
        paste = [];
        out(Buffer.from([0x52, 0x01, WINDOW & 0xff, WINDOW >> 8])); // "R\x01", window (little-endian)
        continue;
      }
      const held = escape;
      escape = [];
      for (const b of held) feedByte(b);
      continue;
    }
    if (c === 0x05) {
      escape.push(c);
      continue;
    }
    feedByte(c);
  }
}

const mode = process.argv[2] || "stdio";
if (mode === "stdio") {
  if (!startProgram()) mp.replInit();
  process.stdin.on("data", feed);
  process.stdin.on("end", () => process.exit(0));
} else if (mode.startsWith("tcp:")) {
  const srv = net.createServer((sock) => {
    out = (b) => {
      if (!sock.destroyed) sock.write(b);
    };
    sock.on("error", () => {});
    sock.on("data", feed);
    sock.on("close", () => {
      out = () => {};
    });
    if (running === null) mp.replInit();
  });
  startProgram();
  srv.listen(parseInt(mode.slice(4), 10), "127.0.0.1", () => {
    process.stdout.write(`listening ${srv.address().port}\n`);
  });
  out = () => {};
} else {
  process.stderr.write(`repl_server: unknown mode '${mode}'; use stdio or tcp:PORT\n`);
  process.exit(2);
}
