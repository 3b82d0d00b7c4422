// Uploads a file to the server with tus 1.0 (tus-js-client): resumable across dropped
// connections, and across a page reload (the same file dropped again goes on from where
// the server stands). Answers the upload id, which a start names as `upload:<id>`.
import * as tus from "tus-js-client";
import type { UploadTarget } from "./api";

export interface Progress {
  sent: number;
  total: number;
  /** Over the last few seconds. */
  bytesPerSecond: number;
}

export interface Running {
  done: Promise<string>;
  abort(): void;
}

export function uploadFile(file: File, target: UploadTarget, onProgress: (p: Progress) => void): Running {
  const samples: Array<[number, number]> = [];
  let upload: tus.Upload | null = null;
  const done = new Promise<string>((resolve, reject) => {
    upload = new tus.Upload(file, {
      endpoint: target.endpoint,
      headers: target.headers,
      metadata: { filename: file.name },
      retryDelays: [0, 1000, 3000, 5000, 10000],
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const now = performance.now();
        samples.push([now, sent]);
        while (samples.length > 2 && now - samples[0][0] > 3000) samples.shift();
        const [t0, s0] = samples[0];
        const bytesPerSecond = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
        onProgress({ sent, total, bytesPerSecond });
      },
      onError: (e) => reject(e),
      onSuccess: () => resolve(String(upload?.url ?? "").split("/").pop() ?? ""),
    });
    const u = upload;
    void u.findPreviousUploads().then((previous) => {
      if (previous.length) u.resumeFromPreviousUpload(previous[0]);
      u.start();
    });
  });
  return {
    done,
    abort() {
      void upload?.abort(true);
    },
  };
}

/** "12.3 MB" */
export function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
