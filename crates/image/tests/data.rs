//! Image data: streaming upload with checksums, the status machine,
//! content inspection, ranged downloads, and what a failed upload leaves.

use md5::Digest;
use reqwest::Method;
use serde_json::json;

use crate::common::*;

fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", md5::Md5::digest(b))
}

fn sha512_hex(b: &[u8]) -> String {
    format!("{:x}", sha2::Sha512::digest(b))
}

/// Files in the store directory of the cloud.
fn store_files(im: &Im) -> Vec<String> {
    let dir = im.cloud.config.data_dir.join("images");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn upload_download_and_ranges() {
    let im = Im::start().await;
    let a = &im.admin;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let id = im.image(a, json!({"name": "blob", "disk_format": "raw", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // No data yet: 204.
    let r = im.get(&format!("/v2/images/{id}/file"), a).await;
    assert_eq!(r.status, 204);
    let r = im.upload(&id, a, data.clone()).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let b = im.get(&format!("/v2/images/{id}"), a).await.body;
    assert_eq!(b["status"], "active");
    assert_eq!(b["size"], data.len());
    assert_eq!(b["virtual_size"], data.len());
    assert_eq!(b["checksum"], md5_hex(&data));
    assert_eq!(b["os_hash_algo"], "sha512");
    assert_eq!(b["os_hash_value"], sha512_hex(&data));
    let r = im.get(&format!("/v2/images/{id}/file"), a).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-md5"), Some(md5_hex(&data)));
    assert_eq!(r.header("content-type").as_deref(), Some("application/octet-stream"));
    assert!(r.bytes == data, "downloaded bytes differ");
    let r = im.call(Method::GET, &format!("/v2/images/{id}/file"), Some(a), None, &[("Range", "bytes=10-19")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some(format!("bytes 10-19/{}", data.len())));
    assert_eq!(r.bytes, data[10..20].to_vec());
    let r = im.call(Method::GET, &format!("/v2/images/{id}/file"), Some(a), None, &[("Range", "bytes=-5")]).await;
    assert_eq!(r.bytes, data[data.len() - 5..].to_vec());
    let r = im
        .call(Method::GET, &format!("/v2/images/{id}/file"), Some(a), None, &[("Range", "bytes=5000000-5000001")])
        .await;
    assert_eq!(r.status, 416);
    // The deprecated request Content-Range works like Range when there is none.
    let cr = format!("bytes 100-199/{}", data.len());
    let r = im.call(Method::GET, &format!("/v2/images/{id}/file"), Some(a), None, &[("Content-Range", &cr)]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.bytes, data[100..200].to_vec());
    let r =
        im.call(Method::GET, &format!("/v2/images/{id}/file"), Some(a), None, &[("Content-Range", "bytes x")]).await;
    assert_eq!(r.status, 416);
    // A second upload: 409, the data stays.
    im.upload(&id, a, vec![1, 2, 3]).await.error(409, "Image status transition from active to saving is not allowed");
    assert_eq!(store_files(&im), vec![id.clone()]);
    // Delete removes the data.
    assert_eq!(im.call(Method::DELETE, &format!("/v2/images/{id}"), Some(a), None, &[]).await.status, 204);
    assert!(store_files(&im).is_empty(), "{:?}", store_files(&im));
    im.stop().await;
}

#[tokio::test]
async fn upload_needs_formats_and_octet_stream() {
    let im = Im::start().await;
    let a = &im.admin;
    let id = im.image(a, json!({"name": "noformat"})).await["id"].as_str().unwrap().to_string();
    im.upload(&id, a, vec![0; 10])
        .await
        .error(400, "Properties disk_format, container_format must be set prior to saving data.");
    let r = im
        .call(Method::PUT, &format!("/v2/images/{id}/file"), Some(a), Some(("application/json", b"{}".to_vec())), &[])
        .await;
    r.error(415, "Invalid content type application/json");
    assert_eq!(im.get(&format!("/v2/images/{id}"), a).await.body["status"], "queued");
    im.stop().await;
}

#[tokio::test]
async fn inspection_refuses_mismatched_content_and_leaves_nothing() {
    let im = Im::start().await;
    let a = &im.admin;
    // qcow2 data declared raw.
    let id = im.image(a, json!({"name": "liar", "disk_format": "raw", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = im.upload(&id, a, qcow2_bytes(1 << 20)).await;
    r.error(415, "does not match");
    let b = im.get(&format!("/v2/images/{id}"), a).await.body;
    assert_eq!(b["status"], "queued");
    assert!(b["size"].is_null() && b["checksum"].is_null() && b["os_hash_value"].is_null(), "{b}");
    assert!(store_files(&im).is_empty(), "{:?}", store_files(&im));
    // The same data declared qcow2 is fine and gets its virtual size.
    let id = im.image(a, json!({"name": "honest", "disk_format": "qcow2", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(im.upload(&id, a, qcow2_bytes(1 << 20)).await.status, 204);
    let b = im.get(&format!("/v2/images/{id}"), a).await.body;
    assert_eq!(
        (b["status"].clone(), b["virtual_size"].clone(), b["size"].clone()),
        (json!("active"), json!(1 << 20), json!(4096))
    );
    im.stop().await;
}

#[tokio::test]
async fn oversized_upload_is_refused_and_cleaned_up() {
    let cloud = testkit::TestCloud::start_with(|c| c.image.image_size_cap = 1000).await;
    let admin = cloud.admin_token().await;
    let im = Im { cloud, admin };
    let a = &im.admin;
    let id = im.image(a, json!({"name": "big", "disk_format": "raw", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    im.upload(&id, a, vec![0; 5000]).await.error(413, "The incoming image is too large");
    let b = im.get(&format!("/v2/images/{id}"), a).await.body;
    assert_eq!(b["status"], "queued");
    assert!(store_files(&im).is_empty(), "{:?}", store_files(&im));
    // Within the cap it works.
    assert_eq!(im.upload(&id, a, vec![0; 1000]).await.status, 204);
    im.stop().await;
}

#[tokio::test]
async fn cut_off_upload_leaves_a_queued_image_and_no_data() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let im = Im::start().await;
    let a = im.admin.clone();
    let id = im.image(&a, json!({"name": "cut", "disk_format": "raw", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Promise 10 MB, send 64 KiB, hang up.
    let addr = im.cloud.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /image/v2/images/{id}/file HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {a}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![5u8; 65536]).await.unwrap();
    s.shutdown().await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut sink)).await;
    drop(s);
    // The server took the upload and answered that the data stopped short.
    let answer = String::from_utf8_lossy(&sink);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Error reading the image data"), "{answer}");
    // The image goes back to queued (at once, or by the lease check) with no data left.
    let mut status = String::new();
    for _ in 0..100 {
        let b = im.get(&format!("/v2/images/{id}"), &a).await.body;
        status = b["status"].as_str().unwrap_or_default().to_string();
        if status == "queued" && store_files(&im).is_empty() {
            assert!(b["size"].is_null() && b["checksum"].is_null(), "{b}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "queued");
    assert!(store_files(&im).is_empty(), "{:?}", store_files(&im));
    // And a full upload works afterwards.
    assert_eq!(im.upload(&id, &a, vec![1u8; 2048]).await.status, 204);
    im.stop().await;
}

/// Format-confusion images made by qemu-img, uploaded through the API:
/// each is refused with 415 and leaves a queued image with no data.
#[tokio::test]
async fn malicious_images_made_by_qemu_img_are_refused() {
    let im = Im::start().await;
    let a = &im.admin;
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    qemu_img(&["create", "-q", "-f", "qcow2", &p("base.qcow2"), "1M"]);
    qemu_img(&["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", &p("base.qcow2"), &p("backed.qcow2")]);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &format!("data_file={}", p("ext.raw")),
        &p("datafile.qcow2"),
        "1M",
    ]);
    qemu_img(&["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", &p("flat.vmdk"), "1M"]);
    qemu_img(&["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", &p("split.vmdk"), "1M"]);
    qemu_img(&["create", "-q", "-f", "vhdx", &p("disk.vhdx"), "1M"]);
    let cases = [
        ("backed.qcow2", "qcow2", "backing"),
        ("datafile.qcow2", "qcow2", "data"),
        ("flat.vmdk", "vmdk", "subformat"),
        ("split.vmdk", "vmdk", "safety checks"),
        ("backed.qcow2", "raw", "does not match"),
        ("disk.vhdx", "vmdk", "does not match"),
        ("disk.vhdx", "raw", "does not match"),
    ];
    for (file, declared, why) in cases {
        let id = im.image(a, json!({"name": file, "disk_format": declared, "container_format": "bare"})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = im.upload(&id, a, std::fs::read(p(file)).unwrap()).await;
        assert_eq!(r.status, 415, "{file} declared {declared}: {}", r.body);
        let msg = r.body["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(msg.contains(why), "{file} declared {declared}: {msg}");
        let b = im.get(&format!("/v2/images/{id}"), a).await.body;
        assert_eq!(b["status"], "queued", "{file}: {b}");
        assert!(b["size"].is_null() && b["checksum"].is_null(), "{file}: {b}");
    }
    assert!(store_files(&im).is_empty(), "{:?}", store_files(&im));
    // A clean vhdx declared vhdx is stored with its virtual size.
    let id = im.image(a, json!({"name": "ok.vhdx", "disk_format": "vhdx", "container_format": "bare"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(im.upload(&id, a, std::fs::read(p("disk.vhdx")).unwrap()).await.status, 204);
    assert_eq!(im.get(&format!("/v2/images/{id}"), a).await.body["virtual_size"], 1 << 20);
    im.stop().await;
}
