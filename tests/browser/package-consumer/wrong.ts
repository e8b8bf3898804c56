// Misuses the package's API: each line marked `// expect TSnnnn` must fail to type-check with
// that error, which proves the declarations are real types and not `any`
// (tests/browser/package.test.mjs compares tsc's errors with these marks).

import { CaptionerClient } from "glimpse-captioner";
import { Captioner } from "glimpse-captioner/cpu";

export async function misuse(client: CaptionerClient, captioner: Captioner, photo: ArrayBuffer): Promise<void> {
  await client.caption(photo, { maxLength: 20 }); // expect TS2561
  const words: number = (await client.caption(photo)).caption; // expect TS2322
  await captioner.caption(photo, { beam: "3" }); // expect TS2322
  await captioner.score(photo, 42); // expect TS2345
  await Captioner.load(new Uint8Array(photo), { backend: "gpu" }); // expect TS2322
  const grid: [number, number, number] = captioner.info().grid; // expect TS2322
  const typed: string = (await captioner.score(photo, "a dog")).end.typed; // expect TS2322
  console.log(words, grid, typed);
}
