import { describe, expect, it } from "vitest";
import { between, bytes, duration, escapeHtml, gpuText, percent, sourceName, speed, when } from "./format";

describe("format", () => {
  it("moments and spans", () => {
    const now = new Date(2026, 10, 30, 20, 0);
    expect(when(new Date(2026, 10, 30, 9, 5).toISOString(), now)).toMatch(/09:05|9:05/);
    expect(when(new Date(2026, 10, 2, 9, 5).toISOString(), now)).toMatch(/Nov.*2|2.*Nov/);
    expect(when(null)).toBe("–");
    expect(between("2026-11-30T10:00:00Z", "2026-11-30T10:01:05Z")).toBe(65);
    expect(between("2026-11-30T10:00:00Z", null)).toBeNull();
  });
  it("durations", () => {
    expect(duration(5)).toBe("5s");
    expect(duration(65)).toBe("1m 05s");
    expect(duration(3725)).toBe("1h 02m");
    expect(duration(null)).toBe("–");
    expect(duration(-1)).toBe("–");
  });
  it("a job's share of its GPU", () => {
    expect(gpuText(null)).toBe("");
    expect(gpuText({ job_id: "j", gpu: 0, encoder_percent: 0, decoder_percent: 41, sm_percent: 12, memory_mb: 310 })).toBe(
      "GPU 0: NVDEC 41% · 3D 12% · 310 MB",
    );
    expect(gpuText({ job_id: "j", gpu: 1, encoder_percent: 0, decoder_percent: 0, sm_percent: 0, memory_mb: null })).toBe("");
  });

  it("bytes", () => {
    expect(bytes(512)).toBe("512 B");
    expect(bytes(1536)).toBe("1.5 KB");
    expect(bytes(50 * 1024 * 1024)).toBe("50 MB");
  });
  it("percent and speed", () => {
    expect(percent(45.25)).toBe("45%");
    expect(percent(2.5)).toBe("2.5%");
    expect(percent(140)).toBe("100%");
    expect(speed(2.46)).toBe("2.5×");
    expect(speed(0)).toBe("–");
  });
  it("source names", () => {
    expect(sourceName("http://pi:5000/media/My%20Movie.mkv?x=1")).toBe("My Movie.mkv");
    expect(sourceName("C:\\media\\a.mkv")).toBe("a.mkv");
  });
  it("escapes html", () => {
    expect(escapeHtml(`<b a="1">&'`)).toBe("&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
  });
});
