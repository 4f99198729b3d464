//! A minimal Lambda Runtime API (`/2018-06-01/runtime/...`) that times any runtime the same way:
//! it hands out a fixed list of events to one process and records when the process first asks
//! for work (the end of its init), when each event was handed out and when its answer came back.
//! Blocking std networking on purpose: nothing here competes with the measured process for a
//! scheduler, and every timestamp is taken the moment the bytes are read.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the process answered one event.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub handed_out: Instant,
    pub answered: Instant,
    /// `response` or `error` (the Runtime API path the answer came on).
    pub outcome: &'static str,
    pub body: Vec<u8>,
}

/// What one process did with its events.
#[derive(Debug, Default)]
pub struct Session {
    /// First `GET …/invocation/next`: the process finished its init.
    pub ready: Option<Instant>,
    pub invocations: Vec<Invocation>,
    /// Peak resident memory (KiB) read when the process asked for work after its last event.
    pub peak_rss_kib: Option<u64>,
    /// Resident memory at that moment: anonymous and file-backed (KiB).
    pub rss_parts_kib: Option<(u64, u64)>,
    /// The body of `POST …/init/error`, when init failed.
    pub init_error: Option<String>,
}

struct State {
    pending: VecDeque<Vec<u8>>,
    in_flight: Option<(String, Instant)>,
    session: Session,
    pid: Option<u32>,
    done: bool,
    next_id: u64,
    /// Bumped for every process, so a request still parked from the last one is never given
    /// the next one's events.
    generation: u64,
}

/// One listening Runtime API, serving one process at a time.
pub struct RuntimeApi {
    listener: TcpListener,
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    ///
    /// # Errors
    /// The port could not be bound.
    pub fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let shared = Arc::new((
            Mutex::new(State {
                pending: VecDeque::new(),
                in_flight: None,
                session: Session::default(),
                pid: None,
                done: true,
                next_id: 0,
                generation: 0,
            }),
            Condvar::new(),
        ));
        let accept = listener.try_clone()?;
        let serving = shared.clone();
        std::thread::spawn(move || {
            for stream in accept.incoming().flatten() {
                let shared = serving.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(Self { listener, shared })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// Prepares the events for the next process.
    pub fn load(&self, events: Vec<Vec<u8>>) {
        let (lock, _) = &*self.shared;
        if let Ok(mut state) = lock.lock() {
            state.pending = events.into();
            state.in_flight = None;
            state.session = Session::default();
            state.pid = None;
            state.done = false;
            state.generation += 1;
        }
    }

    /// The process being served (its peak memory is read through /proc).
    pub fn serve_pid(&self, pid: u32) {
        let (lock, _) = &*self.shared;
        if let Ok(mut state) = lock.lock() {
            state.pid = Some(pid);
        }
    }

    /// Waits until every event was answered (or init failed), at most `limit`; returns what the
    /// process did.
    pub fn wait(&self, limit: Duration) -> Session {
        let (lock, ready) = &*self.shared;
        let deadline = Instant::now() + limit;
        let Ok(mut state) = lock.lock() else {
            return Session::default();
        };
        while !state.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match ready.wait_timeout(state, left) {
                Ok((next, _)) => state = next,
                Err(_) => return Session::default(),
            }
        }
        state.done = true;
        std::mem::take(&mut state.session)
    }
}

/// One request as read from a connection.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    at: Instant,
}

fn serve(stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = writer;
    while let Some(request) = read_request(&mut reader) {
        let answer = handle(&request, shared);
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

fn handle(request: &Request, shared: &(Mutex<State>, Condvar)) -> Vec<u8> {
    let (lock, ready) = shared;
    let path = request.path.trim_start_matches("/2018-06-01/runtime");
    if request.method == "GET" && path == "/invocation/next" {
        let Ok(mut state) = lock.lock() else {
            return response(500, &[], b"{}");
        };
        state.session.ready.get_or_insert(request.at);
        let generation = state.generation;
        loop {
            if let Some(event) = state.pending.pop_front() {
                state.next_id += 1;
                let id = format!("bench-{:08}", state.next_id);
                state.in_flight = Some((id.clone(), Instant::now()));
                let deadline = jiff::Timestamp::now().as_millisecond() + 30_000;
                let headers = [
                    ("Lambda-Runtime-Aws-Request-Id", id),
                    ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:bench".to_string(),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
                    ),
                ];
                return response(200, &headers, &event);
            }
            if !state.done {
                // Asking for more after the last event: memory is at its peak for this run.
                if let Some(pid) = state.pid {
                    state.session.peak_rss_kib = crate::proc::peak_rss_kib(pid);
                    state.session.rss_parts_kib = crate::proc::rss_parts_kib(pid);
                }
                state.done = true;
                ready.notify_all();
            }
            // The process waits here for work that never comes; it is killed.
            match ready.wait_timeout(state, Duration::from_secs(60)) {
                Ok((next, _)) => state = next,
                Err(_) => return response(500, &[], b"{}"),
            }
            if state.generation != generation || state.pending.is_empty() {
                return response(500, &[], b"{}");
            }
        }
    }
    if request.method == "POST" && path == "/init/error" {
        if let Ok(mut state) = lock.lock() {
            state.session.init_error = Some(String::from_utf8_lossy(&request.body).into_owned());
            state.done = true;
            ready.notify_all();
        }
        return response(202, &[], br#"{"status":"OK"}"#);
    }
    if request.method == "POST" {
        let outcome = if path.ends_with("/response") {
            Some("response")
        } else if path.ends_with("/error") {
            Some("error")
        } else {
            None
        };
        if let (Some(outcome), Ok(mut state)) = (outcome, lock.lock())
            && let Some((id, handed_out)) = state.in_flight.take()
            && path.contains(&id)
        {
            state.session.invocations.push(Invocation {
                handed_out,
                answered: request.at,
                outcome,
                body: request.body.clone(),
            });
            return response(202, &[], br#"{"status":"OK"}"#);
        }
    }
    response(404, &[], br#"{"errorType":"NotFound"}"#)
}

fn response(status: u16, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` when the connection ends.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    // The answer's arrival is the moment its last byte was read.
    let at = if body.is_empty() { at } else { Instant::now() };
    Some(Request {
        method,
        path,
        body,
        at,
    })
}
