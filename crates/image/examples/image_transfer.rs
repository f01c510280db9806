//! The Rust client of the image data benchmark (scripts/bench/image.sh):
//! one upload or download of an image's data through the Image API over
//! plain HTTP/1.1, copying the way `cp` does rather than the way a general
//! HTTP client does: the upload goes from the file to the socket in the
//! kernel (`std::io::copy` uses sendfile), the download reads the socket
//! into one reused 1 MiB buffer and writes it to the file. (curl moves
//! 16–64 KiB per call and a pooled HTTP client allocates a buffer per read;
//! on this kind of machine either costs the client more than the server.)
//!
//!   image_transfer upload   http://host:port/image/v2/images/<id>/file <token> <source file>
//!   image_transfer download http://host:port/image/v2/images/<id>/file <token> <destination file>
//!
//! A download ends with the destination synced to disk, as `cp` + `sync`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use anyhow::{bail, ensure, Context};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, url, token, path] = args.as_slice() else {
        bail!("usage: image_transfer upload|download <http url of .../file> <token> <file>");
    };
    let url = url::Url::parse(url).context("the URL does not parse")?;
    ensure!(url.scheme() == "http", "only http:// URLs");
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut socket = TcpStream::connect((host, port))?;
    let head = |method: &str, extra: &str| {
        format!(
            "{method} {} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Auth-Token: {token}\r\nConnection: close\r\n{extra}\r\n",
            url.path()
        )
    };
    match mode.as_str() {
        "upload" => {
            let mut file = std::fs::File::open(path)?;
            let size = file.metadata()?.len();
            let extra = format!("Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n");
            socket.write_all(head("PUT", &extra).as_bytes())?;
            std::io::copy(&mut file, &mut socket)?;
            let (status, _, _) = response(&mut BufReader::new(socket))?;
            ensure!((200..300).contains(&status), "upload answered {status}");
        }
        "download" => {
            socket.write_all(head("GET", "").as_bytes())?;
            let mut reader = BufReader::with_capacity(64 << 10, socket);
            let (status, length, _) = response(&mut reader)?;
            ensure!(status == 200, "download answered {status}");
            let length = length.context("the download has no Content-Length")?;
            let mut file = std::fs::File::create(path)?;
            let buffered = reader.buffer().len().min(length as usize);
            file.write_all(&reader.buffer()[..buffered])?;
            reader.consume(buffered);
            let mut socket = reader.into_inner();
            let mut left = length - buffered as u64;
            let mut buf = vec![0u8; 1 << 20];
            while left > 0 {
                let want = buf.len().min(left as usize);
                let n = socket.read(&mut buf[..want])?;
                ensure!(n > 0, "the download ended {left} bytes short");
                file.write_all(&buf[..n])?;
                left -= n as u64;
            }
            file.sync_all()?;
        }
        other => bail!("unknown mode {other}: upload or download"),
    }
    Ok(())
}

/// Reads a response head: (status, Content-Length, head bytes).
fn response(reader: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, Option<u64>, usize)> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let n = reader.read_until(b'\n', &mut head)?;
        ensure!(n > 0, "the server closed the connection before answering");
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&head)?;
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
    Ok((parsed.code.unwrap_or(0), length, head.len()))
}
