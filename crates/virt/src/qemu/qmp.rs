//! A QMP client: one connection per operation (a QMP socket serves one
//! client at a time), capabilities negotiated, replies matched by id and
//! events skipped.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::{DriverError, DriverResult};

const TIMEOUT: Duration = Duration::from_secs(15);

pub struct Qmp {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
    next_id: u64,
}

impl Qmp {
    pub async fn connect(socket: &Path) -> DriverResult<Qmp> {
        let stream = tokio::time::timeout(TIMEOUT, UnixStream::connect(socket))
            .await
            .map_err(|_| DriverError::new(format!("QEMU's monitor at {} did not answer", socket.display())))?
            .map_err(|e| DriverError::new(format!("cannot reach QEMU's monitor at {}: {e}", socket.display())))?;
        let (r, w) = stream.into_split();
        let mut qmp = Qmp { reader: BufReader::new(r), writer: w, next_id: 0 };
        let greeting = qmp.read().await?;
        if greeting.get("QMP").is_none() {
            return Err(DriverError::new(format!("unexpected QMP greeting: {greeting}")));
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    async fn read(&mut self) -> DriverResult<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut line))
            .await
            .map_err(|_| DriverError::new("QEMU's monitor did not answer in time"))?
            .map_err(|e| DriverError::new(format!("QEMU's monitor: {e}")))?;
        if n == 0 {
            return Err(DriverError::new("QEMU closed its monitor (the process exited)"));
        }
        serde_json::from_str(&line).map_err(|e| DriverError::new(format!("QEMU's monitor sent bad JSON ({e}): {line}")))
    }

    /// Runs `command` and answers its `return` value.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> DriverResult<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"execute": command, "id": id});
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(b'\n');
        self.writer.write_all(&bytes).await.map_err(|e| DriverError::new(format!("QEMU's monitor: {e}")))?;
        loop {
            let v = self.read().await?;
            if v.get("event").is_some() || v.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(e) = v.get("error") {
                return Err(DriverError::new(format!(
                    "QEMU refused {command}: {}",
                    e.get("desc").and_then(Value::as_str).unwrap_or("unknown error")
                )));
            }
            return Ok(v.get("return").cloned().unwrap_or(Value::Null));
        }
    }

    pub async fn status(&mut self) -> DriverResult<String> {
        let r = self.execute("query-status", None).await?;
        Ok(r.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }
}
