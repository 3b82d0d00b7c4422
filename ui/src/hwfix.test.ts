import { describe, expect, it } from "vitest";
import { hwFix } from "./hwfix";

describe("hardware fixes", () => {
  it("name the fix for what ffmpeg said", () => {
    expect(hwFix("nvenc", "h264_nvenc: Cannot load libcuda.so.1").fix).toMatch(/nvidia-driver/);
    expect(hwFix("nvenc", "h264_nvenc: OpenEncodeSessionEx failed: unsupported device (2)").problem).toMatch(/cannot encode/);
    expect(hwFix("vaapi", "no render node at /dev/dri/renderD128").fix).toMatch(/mesa-va-drivers/);
    expect(hwFix("vaapi", "h264_vaapi: Permission denied").fix).toMatch(/usermod -aG render,video/);
    expect(hwFix("qsv", "ffmpeg has no encoder for it").problem).toMatch(/built without/);
    expect(hwFix("videotoolbox", "not supported on linux").fix).toBeNull();
    expect(hwFix("software", null).fix).toBeNull();
    expect(hwFix("amf", "something odd", "windows").problem).toContain("something odd");
    // Another system's encoder is no problem to fix here.
    expect(hwFix("videotoolbox", "ffmpeg has no encoder for it", "linux")).toEqual({ problem: "VideoToolbox exists only on macOS.", fix: null });
    expect(hwFix("amf", "ffmpeg has no encoder for it", "linux").fix).toBeNull();
  });
});
