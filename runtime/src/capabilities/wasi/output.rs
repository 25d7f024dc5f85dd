//! A guest's WASI stdout and stderr, line by line into the host's log under
//! the target `modhost::guest` with the module, the request and the stream,
//! within the call's log quota (shared with the `log` interface) and with
//! control characters escaped, as `log` records are. A line longer than
//! [`MAX_LINE_BYTES`] is cut into records of that size; a last line without
//! a newline is written when the call ends.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::capabilities::log::LogQuota;
use crate::capabilities::log::format::escape_controls;

/// The longest record one line of output makes.
pub const MAX_LINE_BYTES: usize = 4 << 10;

/// Which stream a guest wrote to.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// `wasi:cli/stdout`: logged at info.
    Stdout,
    /// `wasi:cli/stderr`: logged at warn.
    Stderr,
}

/// One stream of one call; clones (each handle the guest opens) share the
/// partial line.
#[derive(Clone)]
pub struct GuestOutput(Arc<Mutex<LineBuffer>>);

struct LineBuffer {
    stream: Stream,
    module: String,
    request_id: Arc<str>,
    quota: LogQuota,
    pending: Vec<u8>,
}

impl GuestOutput {
    /// `stream` of `module`'s call for `request_id`, logged within `quota`.
    pub fn new(stream: Stream, module: &str, request_id: Arc<str>, quota: LogQuota) -> Self {
        Self(Arc::new(Mutex::new(LineBuffer {
            stream,
            module: module.to_string(),
            request_id,
            quota,
            pending: Vec::new(),
        })))
    }

    /// Logs what the guest wrote, each complete line as one record.
    fn write(&self, bytes: &[u8]) {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let (text, ends_line) = match chunk.strip_suffix(b"\n") {
                Some(text) => (text, true),
                None => (chunk, false),
            };
            let mut text = text;
            // A guest that never writes a newline cannot grow the buffer
            // past one record.
            while buffer.pending.len() + text.len() > MAX_LINE_BYTES {
                let room = MAX_LINE_BYTES - buffer.pending.len();
                buffer.pending.extend_from_slice(&text[..room]);
                text = &text[room..];
                buffer.emit();
            }
            buffer.pending.extend_from_slice(text);
            if ends_line {
                buffer.emit();
            }
        }
    }

    /// Logs what follows under `request_id` within `quota`: the next call
    /// of a reused instance.
    pub fn retarget(&self, request_id: Arc<str>, quota: LogQuota) {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buffer.request_id = request_id;
        buffer.quota = quota;
    }

    /// Logs a last line the guest did not end; called when the call ends.
    pub fn finish(&self) {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !buffer.pending.is_empty() {
            buffer.emit();
        }
    }
}

impl LineBuffer {
    /// Logs the pending line (dropped, and counted, past the quota).
    fn emit(&mut self) {
        let line = std::mem::take(&mut self.pending);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if !self.quota.take(line.len()) {
            return;
        }
        let message = escape_controls(&String::from_utf8_lossy(line));
        let (module, request_id) = (&self.module, &self.request_id);
        match self.stream {
            Stream::Stdout => tracing::info!(
                target: "modhost::guest", module = %module, request_id = %request_id,
                stream = "stdout", "{message}"
            ),
            Stream::Stderr => tracing::warn!(
                target: "modhost::guest", module = %module, request_id = %request_id,
                stream = "stderr", "{message}"
            ),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    /// Always ready: writing only formats a log record.
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        GuestOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE_BYTES)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        GuestOutput::write(&self, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(output: &GuestOutput) -> usize {
        output.0.lock().unwrap().pending.len()
    }

    #[test]
    fn lines_are_cut_at_newlines_and_at_the_record_size() {
        let quota = LogQuota::new(1 << 20, 1000);
        let output = GuestOutput::new(Stream::Stdout, "m", "r".into(), quota.clone());
        output.write(b"one\ntw");
        assert_eq!(pending(&output), 2, "the partial line waits");
        output.write(b"o\n");
        assert_eq!(pending(&output), 0);
        output.write(&vec![b'x'; MAX_LINE_BYTES * 2 + 5]);
        assert_eq!(
            pending(&output),
            5,
            "two full records written, the rest waits"
        );
        output.finish();
        assert_eq!(pending(&output), 0);
        // one, two, two full records and the rest: five records taken.
        let left = LogQuota::new(1 << 20, 5);
        let counted = GuestOutput::new(Stream::Stderr, "m", "r".into(), left.clone());
        counted.write(b"1\n2\n3\n4\n5\n");
        assert!(!left.take(0), "five lines used the quota's five records");
    }
}
