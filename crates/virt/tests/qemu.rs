use std::time::Duration;

use virt::{Driver, PowerState};

use crate::common::{alive, config_drive, driver, host};

const READY: &str = "FERROSTACK-GUEST-READY";

#[tokio::test]
async fn a_guest_boots_with_its_config_drive_and_delete_leaves_nothing() {
    let h = host("node-a").await;
    let mut spec = h.spec("disk");
    spec.user_data = Some("aGVsbG8gZ3Vlc3QK".into()); // "hello guest\n"
    spec.config_drive = Some(config_drive(&spec.uuid, "vm1.novalocal"));
    spec.ephemeral_gb = 1;
    spec.swap_mb = 64;
    let info = h.driver.spawn(&spec).await.unwrap();
    assert_eq!(info.power_state, PowerState::Running);
    let marker = h.wait_console(&spec.uuid, READY, 1).await;
    assert!(marker.contains(&format!("uuid={}", spec.uuid)), "{marker}");
    assert!(marker.contains("hostname=vm1.novalocal"), "{marker}");
    assert!(marker.contains("user_data=hello guest"), "{marker}");
    // Root (1 GiB), ephemeral (1 GiB) and swap (64 MiB) disks, in that order.
    assert!(marker.contains("disks=vda:1073741824,vdb:1073741824,vdc:67108864"), "{marker}");
    let listed = h.driver.list_instances().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].power_state, PowerState::Running);
    // Spawning again (a command run twice) keeps the running guest.
    let pid = h.qemu_pid(&spec.uuid).await.unwrap();
    h.driver.spawn(&spec).await.unwrap();
    assert_eq!(h.qemu_pid(&spec.uuid).await, Some(pid));

    h.driver.destroy(&spec.uuid).await.unwrap();
    assert!(!alive(pid), "QEMU still runs after destroy");
    assert!(!h.instance_dir(&spec.uuid).exists());
    assert!(h.driver.list_instances().await.unwrap().is_empty());
    assert_eq!(h.driver.get_info(&spec.uuid).await.unwrap(), None);
    h.driver.destroy(&spec.uuid).await.unwrap();
}

#[tokio::test]
async fn concurrent_spawns_of_one_image_all_start() {
    let h = host("node-a").await;
    let specs: Vec<_> = (0..4).map(|_| h.spec("disk")).collect();
    let (a, b, c, d) = tokio::join!(
        h.driver.spawn(&specs[0]),
        h.driver.spawn(&specs[1]),
        h.driver.spawn(&specs[2]),
        h.driver.spawn(&specs[3])
    );
    for r in [a, b, c, d] {
        assert_eq!(r.unwrap().power_state, PowerState::Running);
    }
    for s in &specs {
        h.driver.destroy(&s.uuid).await.unwrap();
    }
    assert!(h.driver.list_instances().await.unwrap().is_empty());
}

#[tokio::test]
async fn power_operations_stop_start_pause_and_reboot_the_guest() {
    let h = host("node-a").await;
    let spec = h.spec("disk");
    h.driver.spawn(&spec).await.unwrap();
    h.wait_console(&spec.uuid, READY, 1).await;
    let pid = h.qemu_pid(&spec.uuid).await.unwrap();

    // Stop presses the ACPI button; the guest powers itself off.
    let off = h.driver.power_off(&spec.uuid).await.unwrap();
    assert_eq!(off.power_state, PowerState::Shutdown);
    assert!(!alive(pid));
    assert!(h.driver.console_output(&spec.uuid).await.unwrap().contains("FERROSTACK-GUEST-POWERDOWN"));
    assert_eq!(h.driver.list_instances().await.unwrap()[0].power_state, PowerState::Shutdown);

    assert_eq!(h.driver.power_on(&spec.uuid).await.unwrap().power_state, PowerState::Running);
    h.wait_console(&spec.uuid, READY, 2).await;

    assert_eq!(h.driver.pause(&spec.uuid).await.unwrap().power_state, PowerState::Paused);
    let tick = h.last_tick(&spec.uuid).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.last_tick(&spec.uuid).await, tick, "a paused guest kept running");
    assert_eq!(h.driver.unpause(&spec.uuid).await.unwrap().power_state, PowerState::Running);
    h.wait_console(&spec.uuid, &format!("TICK n={}", tick + 1), 1).await;

    assert_eq!(h.driver.reboot(&spec.uuid, false).await.unwrap().power_state, PowerState::Running);
    h.wait_console(&spec.uuid, READY, 3).await;
    assert_eq!(h.driver.reboot(&spec.uuid, true).await.unwrap().power_state, PowerState::Running);
    h.wait_console(&spec.uuid, READY, 4).await;
    h.driver.destroy(&spec.uuid).await.unwrap();
}

#[tokio::test]
async fn suspend_and_resume_keep_the_guest_state() {
    let h = host("node-a").await;
    let spec = h.spec("disk");
    h.driver.spawn(&spec).await.unwrap();
    h.wait_console(&spec.uuid, "TICK n=2", 1).await;
    let pid = h.qemu_pid(&spec.uuid).await.unwrap();
    assert_eq!(h.driver.suspend(&spec.uuid).await.unwrap().power_state, PowerState::Suspended);
    assert!(!alive(pid), "a suspended guest's QEMU still runs");
    assert!(h.instance_dir(&spec.uuid).join("state").is_file());
    let tick = h.last_tick(&spec.uuid).await;
    assert_eq!(h.driver.list_instances().await.unwrap()[0].power_state, PowerState::Suspended);

    assert_eq!(h.driver.resume(&spec.uuid).await.unwrap().power_state, PowerState::Running);
    // The count goes on where it stopped: the guest did not boot again.
    h.wait_console(&spec.uuid, &format!("TICK n={}", tick + 2), 1).await;
    assert_eq!(h.count(&spec.uuid, READY).await, 1);
    assert!(!h.instance_dir(&spec.uuid).join("state").exists());
    h.driver.destroy(&spec.uuid).await.unwrap();
}

#[tokio::test]
async fn kernel_and_ramdisk_images_boot_and_rescue_attaches_the_own_disk_second() {
    let h = host("node-a").await;
    let spec = h.spec("ami");
    h.driver.spawn(&spec).await.unwrap();
    let marker = h.wait_console(&spec.uuid, READY, 1).await;
    assert!(marker.contains(&format!("uuid={}", spec.uuid)), "{marker}");
    assert!(marker.contains("disks=vda:1073741824 "), "{marker}");

    h.driver.rescue(&spec.uuid, "disk").await.unwrap();
    let rescued = h.wait_console(&spec.uuid, READY, 2).await;
    // The rescue disk (the test image's 33 MiB) first, the own disk second.
    assert!(rescued.contains("disks=vda:34603008,vdb:1073741824 "), "{rescued}");
    h.driver.unrescue(&spec.uuid).await.unwrap();
    let back = h.wait_console(&spec.uuid, READY, 3).await;
    assert!(back.contains("disks=vda:1073741824 "), "{back}");
    assert!(!h.instance_dir(&spec.uuid).join("disk.rescue").exists());
    h.driver.destroy(&spec.uuid).await.unwrap();
}

#[tokio::test]
async fn a_snapshot_boots_and_resize_grows_the_root_disk() {
    let h = host("node-a").await;
    let spec = h.spec("disk");
    h.driver.spawn(&spec).await.unwrap();
    h.wait_console(&spec.uuid, READY, 1).await;
    let snap = h.dir.path().join("snap.qcow2");
    let info = h.driver.snapshot(&spec.uuid, &snap).await.unwrap();
    assert_eq!(info.disk_format, "qcow2");
    // The guest runs on after the snapshot.
    let tick = h.last_tick(&spec.uuid).await;
    h.wait_console(&spec.uuid, &format!("TICK n={}", tick + 1), 1).await;

    h.files.add("snap", &snap, "qcow2", &[]);
    let from_snap = h.spec("snap");
    h.driver.spawn(&from_snap).await.unwrap();
    let marker = h.wait_console(&from_snap.uuid, READY, 1).await;
    assert!(marker.contains(&format!("uuid={}", from_snap.uuid)), "{marker}");
    h.driver.destroy(&from_snap.uuid).await.unwrap();

    let mut bigger = spec.clone();
    bigger.root_gb = 2;
    bigger.memory_mb = 256;
    assert_eq!(h.driver.resize(&bigger).await.unwrap().power_state, PowerState::Running);
    let marker = h.wait_console(&spec.uuid, READY, 2).await;
    assert!(marker.contains("disks=vda:2147483648"), "{marker}");
    h.driver.destroy(&spec.uuid).await.unwrap();
}

#[tokio::test]
async fn a_restarted_driver_adopts_running_guests_and_reports_dead_ones_shut_off() {
    let h = host("node-a").await;
    let (a, b) = (h.spec("disk"), h.spec("disk"));
    h.driver.spawn(&a).await.unwrap();
    h.driver.spawn(&b).await.unwrap();
    h.wait_console(&a.uuid, READY, 1).await;
    let (pa, pb) = (h.qemu_pid(&a.uuid).await.unwrap(), h.qemu_pid(&b.uuid).await.unwrap());
    // While "the agent is down", one guest's QEMU dies.
    // SAFETY: a QEMU this test started.
    unsafe { libc::kill(pb, libc::SIGKILL) };
    while alive(pb) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = driver(h.dir.path(), "node-a", h.files.clone()).await;
    let mut listed = again.list_instances().await.unwrap();
    listed.sort_by_key(|i| i.uuid != a.uuid);
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].uuid.as_str(), listed[0].power_state), (a.uuid.as_str(), PowerState::Running));
    assert_eq!(listed[1].power_state, PowerState::Shutdown);
    assert!(alive(pa), "adopting a guest must not restart it");
    assert_eq!(again.pause(&a.uuid).await.unwrap().power_state, PowerState::Paused);
    assert_eq!(again.power_on(&b.uuid).await.unwrap().power_state, PowerState::Running);
    again.destroy(&a.uuid).await.unwrap();
    again.destroy(&b.uuid).await.unwrap();
    assert!(!alive(pa));
}

#[tokio::test]
async fn bad_images_and_a_missing_qemu_fail_the_spawn_and_leave_nothing() {
    let h = host("node-a").await;
    // Not bootable: a raw disk of zeros.
    let zeros = h.dir.path().join("zeros.raw");
    std::fs::write(&zeros, vec![0u8; 1 << 20]).unwrap();
    h.files.add("zeros", &zeros, "raw", &[]);
    let spec = h.spec("zeros");
    let e = h.driver.spawn(&spec).await.unwrap_err();
    assert!(e.message.contains("not bootable"), "{e}");
    assert!(!h.instance_dir(&spec.uuid).exists());

    // A root disk smaller than the image.
    let big = h.dir.path().join("big.qcow2");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(test_image_disk())
        .arg(&big)
        .arg("3G")
        .output()
        .unwrap();
    assert!(out.status.success());
    let flat = h.dir.path().join("big-flat.qcow2");
    assert!(std::process::Command::new("qemu-img")
        .args(["convert", "-O", "qcow2"])
        .arg(&big)
        .arg(&flat)
        .status()
        .unwrap()
        .success());
    h.files.add("big", &flat, "qcow2", &[]);
    let e = h.driver.spawn(&h.spec("big")).await.unwrap_err();
    assert!(e.message.contains("smaller than image"), "{e}");

    // A kernel is not a disk.
    let e = h.driver.spawn(&h.spec("kernel")).await.unwrap_err();
    assert!(e.message.contains("not a bootable disk"), "{e}");

    // A corrupted cached base is fetched again.
    let ok = h.spec("disk");
    h.driver.spawn(&ok).await.unwrap();
    h.driver.destroy(&ok.uuid).await.unwrap();
    let base = h.dir.path().join("_base/disk");
    let mut data = std::fs::read(&base).unwrap();
    data[100_000] ^= 0xff;
    std::fs::write(&base, data).unwrap();
    let again = h.spec("disk");
    h.driver.spawn(&again).await.unwrap();
    assert_eq!(h.files.downloads.lock().unwrap().iter().filter(|d| *d == "disk").count(), 2);
    h.wait_console(&again.uuid, READY, 1).await;
    h.driver.destroy(&again.uuid).await.unwrap();

    // QEMU missing.
    let mut cfg = virt::qemu::QemuConfig::new(h.dir.path().to_path_buf(), "node-a");
    cfg.qemu_binary = "/nonexistent/qemu-system-x86_64".into();
    let e = virt::qemu::QemuDriver::new(cfg, h.files.clone()).await.err().unwrap();
    assert!(e.contains("install QEMU"), "{e}");
    let leftovers: Vec<_> = std::fs::read_dir(h.dir.path().join("instances")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn test_image_disk() -> std::path::PathBuf {
    crate::common::test_image().join(virt::test_image::DISK)
}

#[tokio::test]
async fn live_migration_moves_a_running_guest_between_hosts() {
    let a = host("node-a").await;
    let b = host("node-b").await;
    let mut spec = a.spec("disk");
    spec.config_drive = Some(config_drive(&spec.uuid, "mover"));
    a.driver.spawn(&spec).await.unwrap();
    a.wait_console(&spec.uuid, "TICK n=2", 1).await;
    let mut there = spec.clone();
    there.node = "node-b".into();
    let uri = b.driver.prepare_live_migration(&there).await.unwrap();
    assert!(uri.starts_with("tcp:127.0.0.1:"), "{uri}");
    if let Err(e) = a.driver.live_migrate(&spec.uuid, &uri).await {
        let log = std::fs::read_to_string(b.instance_dir(&spec.uuid).join("qemu.log")).unwrap_or_default();
        panic!("{e}; the destination's QEMU said: {log}");
    }
    let tick = a.last_tick(&spec.uuid).await;
    assert_eq!(b.driver.finish_live_migration(&spec.uuid, false).await.unwrap().power_state, PowerState::Running);
    // The count goes on at the destination: the same guest, not a new boot.
    b.wait_console(&spec.uuid, &format!("TICK n={}", tick + 2), 1).await;
    assert_eq!(b.count(&spec.uuid, READY).await, 0);
    a.driver.destroy(&spec.uuid).await.unwrap();
    assert!(!a.instance_dir(&spec.uuid).exists());
    b.driver.destroy(&spec.uuid).await.unwrap();
}

/// Runs one qemu-io command on a qcow2 file (`-r -U` reads a disk in use);
/// answers whether it succeeded (a pattern that does not match fails).
fn qemu_io(disk: &std::path::Path, extra: &[&str], cmd: &str) -> bool {
    std::process::Command::new("qemu-io")
        .args(extra)
        .args(["-f", "qcow2", "-c", cmd])
        .arg(disk)
        .output()
        .expect("qemu-io (qemu-utils)")
        .status
        .success()
}

#[tokio::test]
async fn a_cold_migration_carries_the_disks_to_the_other_host() {
    let a = host("node-a").await;
    let b = host("node-b").await;
    let mut spec = a.spec("disk");
    spec.ephemeral_gb = 1;
    a.driver.spawn(&spec).await.unwrap();
    a.wait_console(&spec.uuid, READY, 1).await;
    let uri = b.driver.prepare_disk_transfer(&spec.uuid).await.unwrap();
    assert!(uri.starts_with("ferrostack-disks://127.0.0.1:"), "{uri}");
    let running = a.driver.send_disks(&spec.uuid, &uri).await.unwrap_err();
    assert!(running.message.contains("power it off"), "{running}");
    a.driver.power_off(&spec.uuid).await.unwrap();
    // What the guest wrote on its disks must arrive (written here with qemu-io).
    let (root, eph) = (a.instance_dir(&spec.uuid).join("disk"), a.instance_dir(&spec.uuid).join("disk.eph0"));
    assert!(qemu_io(&root, &[], "write -P 0x5a 600M 64k"));
    assert!(qemu_io(&eph, &[], "write -P 0xa5 1M 64k"));
    let (base, _) = uri.rsplit_once('/').unwrap();
    assert!(a.driver.send_disks(&spec.uuid, &format!("{base}/not-the-token")).await.is_err());
    assert!(!b.instance_dir(&spec.uuid).join("disk").exists(), "a sender without the token wrote a disk");
    a.driver.send_disks(&spec.uuid, &uri).await.unwrap();

    // A resize on the way: the root disk grows to the new flavor's 2 GiB.
    // The server was stopped, so it arrives stopped.
    let mut there = spec.clone();
    there.node = "node-b".into();
    there.root_gb = 2;
    there.stopped = true;
    assert_eq!(b.driver.spawn(&there).await.unwrap().power_state, PowerState::Shutdown);
    assert_eq!(b.qemu_pid(&spec.uuid).await, None);
    assert_eq!(b.driver.power_on(&spec.uuid).await.unwrap().power_state, PowerState::Running);
    let marker = b.wait_console(&spec.uuid, READY, 1).await;
    assert!(marker.contains("disks=vda:2147483648,vdb:1073741824"), "{marker}");
    let (root_b, eph_b) = (b.instance_dir(&spec.uuid).join("disk"), b.instance_dir(&spec.uuid).join("disk.eph0"));
    assert!(qemu_io(&root_b, &["-r", "-U"], "read -P 0x5a 600M 64k"), "the root disk's data did not arrive");
    assert!(qemu_io(&eph_b, &["-r", "-U"], "read -P 0xa5 1M 64k"), "the ephemeral disk's data did not arrive");
    let info =
        std::process::Command::new("qemu-img").args(["info", "-U", "--output=json"]).arg(&root_b).output().unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let backing = info["backing-filename"].as_str().unwrap();
    assert!(backing.starts_with(&b.dir.path().to_string_lossy().to_string()), "{backing}");
    assert!(!b.instance_dir(&spec.uuid).join("disk.migrated").exists());
    // The source keeps its copy until the move is confirmed.
    assert!(root.exists());
    a.driver.destroy(&spec.uuid).await.unwrap();
    b.driver.destroy(&spec.uuid).await.unwrap();
    assert!(!b.instance_dir(&spec.uuid).exists());
}

#[tokio::test]
async fn the_accelerator_probe_is_bounded_and_its_verdict_kept_for_the_boot() {
    use virt::qemu::accel::{choose, Accel};
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(choose("qemu-system-x86_64", "tcg", dir.path()).await.unwrap(), Accel::Tcg);
    assert!(choose("qemu-system-x86_64", "fast", dir.path()).await.unwrap_err().contains("auto, kvm, tcg"));
    let started = std::time::Instant::now();
    let first = choose("qemu-system-x86_64", "auto", dir.path()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "the probe took {:?}", started.elapsed());
    if std::path::Path::new("/dev/kvm").exists() {
        let verdict = std::fs::read_to_string(dir.path().join("accel-probe")).unwrap();
        assert!(verdict.trim().ends_with(first.name()), "{verdict}");
        // The kept verdict answers at once, whatever it was.
        let started = std::time::Instant::now();
        assert_eq!(choose("qemu-system-x86_64", "auto", dir.path()).await.unwrap(), first);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
}
