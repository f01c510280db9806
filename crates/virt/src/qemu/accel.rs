//! Choosing the accelerator: KVM when `/dev/kvm` is usable, TCG otherwise.
//! Opening `/dev/kvm` is not proof (under some nested hypervisors KVM
//! creates VMs that then hang or abort), so `auto` boots a 52-byte
//! multiboot guest under KVM that must write a byte to the serial port and
//! exit through isa-debug-exit within a few seconds. The verdict is kept in
//! the data dir for the host's boot (`/proc/sys/kernel/random/boot_id`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// A multiboot kernel loaded at 1 MiB: `out 0x3f8, 'K'`, `out 0x3f8, '\n'`,
/// `out 0xf4, 0x10` (isa-debug-exit: QEMU exits with status 33), `hlt`.
const PROBE: [u8; 48] = [
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00, 0xfe, 0x4f, 0x51, 0xe4, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4b,
    0xee, 0xb0, 0x0a, 0xee, 0x66, 0xba, 0xf4, 0x00, 0xb0, 0x10,
];
const PROBE_TAIL: [u8; 4] = [0xee, 0xf4, 0xeb, 0xfd];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The accelerator for `setting` (`auto`, `kvm` or `tcg`).
pub async fn choose(qemu: &str, setting: &str, data_dir: &Path) -> Result<Accel, String> {
    match setting {
        "tcg" => return Ok(Accel::Tcg),
        "kvm" => return Ok(Accel::Kvm),
        "auto" | "" => {}
        other => return Err(format!("[compute] accel = {other:?} is not one of auto, kvm, tcg")),
    }
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        tracing::info!("/dev/kvm is missing or not accessible; guests run under TCG (software emulation)");
        return Ok(Accel::Tcg);
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let verdict_file = data_dir.join("accel-probe");
    if let Ok(v) = std::fs::read_to_string(&verdict_file) {
        if let Some((id, accel)) = v.trim().split_once(' ') {
            if id == boot_id.trim() {
                return Ok(if accel == "kvm" { Accel::Kvm } else { Accel::Tcg });
            }
        }
    }
    let accel = match probe(qemu, data_dir).await {
        Ok(()) => Accel::Kvm,
        Err(why) => {
            tracing::warn!(reason = %why, "KVM is present but a test guest did not run under it; guests run under TCG (software emulation, many times slower). Set [compute] accel = \"kvm\" to insist");
            Accel::Tcg
        }
    };
    let _ = std::fs::create_dir_all(data_dir);
    let _ = std::fs::write(&verdict_file, format!("{} {}\n", boot_id.trim(), accel.name()));
    Ok(accel)
}

async fn probe(qemu: &str, data_dir: &Path) -> Result<(), String> {
    let kernel = data_dir.join("accel-probe.bin");
    std::fs::create_dir_all(data_dir).map_err(|e| e.to_string())?;
    let mut bytes = PROBE.to_vec();
    bytes.extend_from_slice(&PROBE_TAIL);
    std::fs::write(&kernel, bytes).map_err(|e| e.to_string())?;
    let child = tokio::process::Command::new(qemu)
        .args(["-machine", "pc,accel=kvm", "-cpu", "host", "-m", "32M", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-kernel")
        .arg(&kernel)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {qemu}: {e}"))?;
    // On a timeout the child is dropped, which kills it.
    let waited = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await;
    let _ = std::fs::remove_file(&kernel);
    match waited {
        Err(_) => Err("the KVM test guest hung for 10 s".into()),
        Ok(output) => {
            let output = output.map_err(|e| e.to_string())?;
            let (code, out, err) = (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
            if code == Some(33) && out.contains('K') {
                Ok(())
            } else {
                Err(format!("the KVM test guest exited with {code:?}: {}", err.trim()))
            }
        }
    }
}
