// What to do about an accelerator that failed its trial, in words: the raw ffmpeg reason
// ("Cannot load libcuda.so.1") mapped to the fix. Pure, unit-tested.

export interface Fix {
  /** One sentence: what is wrong. */
  problem: string;
  /** One sentence: what to do; `null` when nothing needs doing. */
  fix: string | null;
}

const NOT_HERE: Record<string, string> = {
  videotoolbox: "VideoToolbox exists only on macOS.",
  amf: "AMF is AMD's encoder on Windows.",
  qsv: "Quick Sync needs an Intel GPU.",
  nvenc: "NVENC needs an NVIDIA GPU.",
  vaapi: "VA-API needs a GPU with a Linux video driver.",
};

/** `platform` is `/api/capabilities`' (`linux`, `windows`, `macos`). */
export function hwFix(type: string, reason: string | null | undefined, platform = ""): Fix {
  const r = (reason ?? "").toLowerCase();
  const os = platform.toLowerCase();
  if (type === "software") return { problem: "Software encoding always works.", fix: null };
  const elsewhere = (type === "videotoolbox" && os && !/mac|darwin/.test(os)) || (type === "amf" && os && !/win/.test(os));
  if (elsewhere || /not supported on/.test(r)) return { problem: NOT_HERE[type] ?? `${type} is not for this system.`, fix: null };
  if (/no encoder for it|unknown encoder|encoder not found/.test(r)) {
    return {
      problem: "This ffmpeg was built without that encoder.",
      fix: "Install an ffmpeg that has it (Debian's own `apt install ffmpeg` includes VA-API, NVENC and Quick Sync), or set its path under Settings.",
    };
  }
  if (/libcuda|cuda_error_no_device|no nvidia|nvml/.test(r)) {
    return {
      problem: "The NVIDIA driver is not installed or not loaded.",
      fix: "If this PC has an NVIDIA card: install its driver (Debian: `apt install nvidia-driver`, from non-free; Windows: the GeForce or Studio driver), reboot, then restart GhostStream.",
    };
  }
  if (/openencodesessionex|no capable devices|nvenc.*(session|api)|unsupported device|driver does not support/.test(r)) {
    return {
      problem: "The NVIDIA card or its driver cannot encode (no NVENC, or the driver is too old).",
      fix: "Update the NVIDIA driver. Cards without NVENC (some data-centre and entry models) cannot encode on the GPU; GhostStream uses the CPU instead.",
    };
  }
  if (/no render node|renderd128/.test(r)) {
    return {
      problem: "No GPU render device was found (/dev/dri/renderD128).",
      fix: "Install the GPU's video driver (Intel: `apt install intel-media-va-driver`; AMD: `apt install mesa-va-drivers`). On a machine without a GPU there is nothing to fix.",
    };
  }
  if (/permission denied|operation not permitted/.test(r)) {
    return {
      problem: "GhostStream may not open the GPU device.",
      fix: "Add your user to the render and video groups (`sudo usermod -aG render,video $USER`), log out and in, then restart GhostStream.",
    };
  }
  if (/va_?initialize|libva|vaapi|driver.*va|failed to initialise vaapi/.test(r)) {
    return {
      problem: "The VA-API video driver did not start.",
      fix: "Install the VA-API driver for the GPU (Intel: `intel-media-va-driver`; AMD: `mesa-va-drivers`) and check `vainfo` lists an H.264 encoder.",
    };
  }
  if (/mfx|qsv|onevpl|libvpl/.test(r)) {
    return {
      problem: "Intel Quick Sync did not start.",
      fix: "If this PC has an Intel GPU: install Intel's media runtime (Debian: `apt install intel-media-va-driver-non-free libvpl2`) and make sure the Intel GPU is enabled in the firmware.",
    };
  }
  return {
    problem: reason ? `The trial encode failed: ${reason}` : "The trial encode failed.",
    fix: "Update the GPU driver and ffmpeg, then restart GhostStream. Jobs run on the CPU meanwhile.",
  };
}
