//! Moving an instance's disks to another host for a cold migration or a
//! resize there: the destination listens on its migration address for one
//! sender holding a one-time token, the source (its guest powered off)
//! streams each disk file, and the destination marks the set complete only
//! when every file arrived whole.
//!
//! On the wire (TCP): the sender writes `FERROSTACK-DISKS 1 <token>\n`,
//! then per file `<name> <bytes>\n` and the bytes, then `END\n`; the
//! receiver answers `OK\n` once the files are synced and renamed, or
//! `ERR <reason>\n`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::{DriverError, DriverResult};

/// The disk files a migration carries; the config drive and swap are made
/// again on the destination.
pub const FILES: &[&str] = &["disk", "disk.eph0"];
/// Written in the instance directory when every file has arrived.
pub const COMPLETE: &str = "disk.migrated";
const HELLO: &str = "FERROSTACK-DISKS 1";

/// Listens on `address` (port chosen by the system) and receives one set of
/// disks into `dir` within `timeout`; answers the URI for the sender.
pub async fn listen(address: &str, dir: PathBuf, timeout: Duration) -> DriverResult<String> {
    let listener = TcpListener::bind((address, 0))
        .await
        .map_err(|e| DriverError::new(format!("cannot listen on {address} for a disk transfer: {e}")))?;
    let port = listener.local_addr().map_err(|e| DriverError::new(e.to_string()))?.port();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let uri = format!("ferrostack-disks://{address}:{port}/{token}");
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
            let Ok(Ok((stream, peer))) = accepted else {
                tracing::warn!(dir = %dir.display(), "no disks arrived for a migration in time; the source must send them again");
                return;
            };
            match tokio::time::timeout_at(deadline, receive(stream, &token, &dir)).await {
                Ok(Ok(true)) => return,
                Ok(Ok(false)) => {
                    tracing::warn!(%peer, "a disk transfer connection without the right token was refused")
                }
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "a disk transfer failed; waiting for the source to try again")
                }
                Err(_) => return,
            }
        }
    });
    Ok(uri)
}

/// Receives one connection; `Ok(false)` when it did not hold the token.
async fn receive(stream: TcpStream, token: &str, dir: &Path) -> DriverResult<bool> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    read_line(&mut r, &mut line).await?;
    if line.trim_end() != format!("{HELLO} {token}") {
        return Ok(false);
    }
    let result = receive_files(&mut r, dir).await;
    let answer = match &result {
        Ok(()) => "OK\n".to_string(),
        Err(e) => format!("ERR {}\n", e.message.replace('\n', " ")),
    };
    r.get_mut().write_all(answer.as_bytes()).await.map_err(net)?;
    r.get_mut().flush().await.map_err(net)?;
    result.map(|()| true)
}

async fn receive_files(r: &mut BufReader<TcpStream>, dir: &Path) -> DriverResult<()> {
    let _ = std::fs::remove_file(dir.join(COMPLETE));
    let mut got = Vec::new();
    let mut line = String::new();
    loop {
        read_line(r, &mut line).await?;
        let header = line.trim_end();
        if header == "END" {
            break;
        }
        let (name, size) = header.split_once(' ').ok_or_else(|| DriverError::new(format!("bad header {header:?}")))?;
        if !FILES.contains(&name) || got.iter().any(|g| g == name) {
            return Err(DriverError::new(format!("unexpected disk file {name:?}")));
        }
        let size: u64 = size.parse().map_err(|_| DriverError::new(format!("bad size in {header:?}")))?;
        let part = dir.join(format!("{name}.part"));
        let mut f = tokio::fs::File::create(&part).await.map_err(|e| super::io("create", &part, e))?;
        let copied = tokio::io::copy(&mut (&mut *r).take(size), &mut f).await.map_err(net)?;
        if copied != size {
            return Err(DriverError::new(format!("{name} ended after {copied} of {size} bytes")));
        }
        f.sync_all().await.map_err(|e| super::io("sync", &part, e))?;
        got.push(name.to_string());
    }
    if !got.iter().any(|g| g == "disk") {
        return Err(DriverError::new("the transfer carried no root disk"));
    }
    for name in &got {
        let part = dir.join(format!("{name}.part"));
        std::fs::rename(&part, dir.join(name)).map_err(|e| super::io("rename", &part, e))?;
    }
    std::fs::write(dir.join(COMPLETE), got.join("\n")).map_err(|e| super::io("write", dir, e))?;
    Ok(())
}

async fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> DriverResult<()> {
    line.clear();
    let n = (&mut *r).take(256).read_line(line).await.map_err(net)?;
    if n == 0 || !line.ends_with('\n') {
        return Err(DriverError::new("the disk transfer connection closed early"));
    }
    Ok(())
}

fn net(e: std::io::Error) -> DriverError {
    DriverError::new(format!("disk transfer: {e}"))
}

/// Sends `files` (name and path) to a destination's URI and waits for its
/// answer.
pub async fn send(uri: &str, files: &[(String, PathBuf)]) -> DriverResult<u64> {
    let rest = uri
        .strip_prefix("ferrostack-disks://")
        .ok_or_else(|| DriverError::new(format!("{uri:?} is not a disk transfer URI")))?;
    let (addr, token) = rest.split_once('/').ok_or_else(|| DriverError::new(format!("{uri:?} names no token")))?;
    let mut s = TcpStream::connect(addr).await.map_err(|e| {
        DriverError::new(format!("cannot reach the destination host at {addr} for the disk transfer: {e}"))
    })?;
    s.write_all(format!("{HELLO} {token}\n").as_bytes()).await.map_err(net)?;
    let mut total = 0;
    for (name, path) in files {
        let mut f = tokio::fs::File::open(path).await.map_err(|e| super::io("open", path, e))?;
        let size = f.metadata().await.map_err(|e| super::io("read", path, e))?.len();
        s.write_all(format!("{name} {size}\n").as_bytes()).await.map_err(net)?;
        let sent = tokio::io::copy(&mut (&mut f).take(size), &mut s).await.map_err(net)?;
        if sent != size {
            return Err(DriverError::new(format!("{} shrank while it was sent", path.display())));
        }
        total += size;
    }
    s.write_all(b"END\n").await.map_err(net)?;
    s.flush().await.map_err(net)?;
    let mut answer = String::new();
    let mut r = BufReader::new(s);
    read_line(&mut r, &mut answer).await?;
    match answer.trim_end() {
        "OK" => Ok(total),
        other => Err(DriverError::new(format!(
            "the destination refused the disks: {}",
            other.strip_prefix("ERR ").unwrap_or(other)
        ))),
    }
}
