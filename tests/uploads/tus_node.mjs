// Uploads a file with tus-js-client (the client Uppy and most web apps use), retrying
// across dropped connections as it does in a browser.
// Usage: node tus_node.mjs ENDPOINT FILE
// Prints "ok <upload url> retries=<n>" when the upload is complete.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import * as tus from "tus-js-client";

const [endpoint, file] = process.argv.slice(2);
const data = readFileSync(file);
let retries = 0;
await new Promise((resolve, reject) => {
  const upload = new tus.Upload(data, {
    endpoint,
    metadata: { filename: basename(file) },
    uploadSize: data.length,
    retryDelays: [0, 200, 500, 1000, 2000, 4000],
    onShouldRetry: (err) => {
      retries += 1;
      console.log(`retrying after: ${err.message.split("\n")[0]}`);
      return true;
    },
    onError: reject,
    onSuccess: () => {
      console.log(`ok ${upload.url} retries=${retries}`);
      resolve();
    },
  });
  upload.start();
});
