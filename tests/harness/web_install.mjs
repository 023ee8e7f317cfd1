// What ESP Web Tools does when "Install" is pressed (esp-web-tools 10.4 src/flash.ts,
// facts only), run in node with the real esptool-js against a serial peer over TCP:
// fetch the manifest over HTTP, pick the build for the chip esptool-js found,
// fetch each part relative to the manifest, write them with writeFlash (no erase,
// flash settings kept, compressed), then reset. The one stand-in is the Web Serial
// port object, which node does not have: TcpSerialPort carries the bytes over TCP.
//
//   node web_install.mjs MANIFEST_URL HOST:PORT
//
// Prints one JSON line: {"chip": ..., "parts": [{"path", "offset", "size"}]}.

import net from "node:net";
import { Duplex } from "node:stream";
import { ESPLoader, Transport } from "esptool-js";

class TcpSerialPort {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.readable = null;
    this.writable = null;
  }

  getInfo() {
    return {}; // no USB ids: esp-web-tools takes it for a UART bridge
  }

  async open() {
    this.socket = await new Promise((resolve, reject) => {
      const socket = net.connect(this.port, this.host, () => resolve(socket));
      socket.once("error", reject);
    });
    this.socket.setNoDelay(true);
    const web = Duplex.toWeb(this.socket);
    this.readable = web.readable;
    this.writable = web.writable;
  }

  async setBaudRate() {} // a TCP link has no baud rate: change it in place

  async setSignals() {} // no reset lines: the peer is already in download mode

  async close() {
    this.readable = null;
    this.writable = null;
    this.socket?.destroy();
  }
}

const [manifestUrl, address] = process.argv.slice(2);
if (!manifestUrl || !address) {
  console.error("usage: node web_install.mjs MANIFEST_URL HOST:PORT");
  process.exit(2);
}
const [host, port] = address.split(":");

const response = await fetch(manifestUrl);
if (!response.ok) throw new Error(`manifest ${manifestUrl}: HTTP ${response.status}`);
const manifest = await response.json();

const transport = new Transport(new TcpSerialPort(host, Number(port)));
const silent = { clean() {}, writeLine() {}, write() {} };
const esploader = new ESPLoader({ transport, baudrate: 115200, terminal: silent, enableTracing: false });
await esploader.main();
await esploader.flashId();
const chipFamily = esploader.chip.CHIP_NAME;
const build = manifest.builds.find((b) => b.chipFamily === chipFamily && (b.serialType ?? "uart") === "uart");
if (!build) throw new Error(`the manifest has no build for ${chipFamily}`);

const fileArray = [];
for (const part of build.parts) {
  const url = new URL(part.path, manifestUrl);
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
  fileArray.push({ data: new Uint8Array(await resp.arrayBuffer()), address: part.offset });
}
await esploader.writeFlash({
  fileArray, flashSize: "keep", flashMode: "keep", flashFreq: "keep", eraseAll: false, compress: true,
});
await transport.setRTS(true);
await esploader.after();
await transport.disconnect();
console.log(JSON.stringify({
  chip: chipFamily,
  parts: build.parts.map((p, i) => ({ path: p.path, offset: p.offset, size: fileArray[i].data.length })),
}));
process.exit(0);
