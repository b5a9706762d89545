//! `SmtpServer`: a small but real SMTP server (RFC 5321 subset) on 127.0.0.1,
//! one OS thread per connection, with failure injection, optional AUTH
//! PLAIN/LOGIN and optional TLS (STARTTLS or implicit TLS, rustls with a test CA
//! made by rcgen). Enough for lettre's SMTP client (incl. pooling).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A message accepted with a 2xx reply to the end of DATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Reverse path from `MAIL FROM:<...>` (without brackets; may be empty).
    pub mail_from: String,
    /// Forward paths from each accepted `RCPT TO:<...>`.
    pub rcpt_to: Vec<String>,
    /// Message content as transmitted (CRLF line endings), dot-unstuffed,
    /// without the terminating `.` line.
    pub data: Vec<u8>,
    /// User name authenticated on the connection, if any.
    pub auth_user: Option<String>,
    /// Sequence number (1-based) of the connection that delivered it.
    pub connection: usize,
    /// Whether the message came over TLS (implicit, or after STARTTLS).
    pub tls: bool,
}

/// How a TLS test server speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text first; `250-STARTTLS` advertised, the connection upgrades on
    /// `STARTTLS`. AUTH and MAIL before the upgrade get `530 5.7.0`.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465 style).
    Implicit,
}

/// A test CA and a server certificate it signed for `localhost` and `127.0.0.1`.
struct TestPki {
    ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl TestPki {
    fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "presswatch test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
            .expect("self-sign the test CA");
        let leaf_key = KeyPair::generate().expect("server key");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params")
            .signed_by(&leaf_key, &ca)
            .expect("sign the server certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        );
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
            .expect("server certificate");
        TestPki {
            ca_pem: ca.pem(),
            config: Arc::new(config),
        }
    }
}

/// The connection: plain TCP, or TLS over it.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    /// Only while switching from plain to TLS.
    Gone,
}

impl Conn {
    fn tls(config: &Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<Conn> {
        let conn = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Conn::Plain(t) => Some(t),
            Conn::Tls(s) => Some(&s.sock),
            Conn::Gone => None,
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection gone")
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Gone => Err(gone()),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Gone => Err(gone()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(t) => t.flush(),
            Conn::Tls(s) => s.flush(),
            Conn::Gone => Err(gone()),
        }
    }
}

impl ReceivedMail {
    /// `data` lossily decoded.
    pub fn data_str(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// Parse with mail-parser (see `common::mail`).
    pub fn parse(&self) -> super::mail::ParsedMail {
        super::mail::parse(self)
    }
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    refuse_next: usize,
    reject_421_next: usize,
    data_replies: VecDeque<u16>,
    auth: Option<(String, String)>,
    auths: Vec<(String, String)>,
    failed_auths: Vec<(String, String)>,
    connections: usize,
    data_attempts: usize,
    commands: Vec<String>,
    tls_handshakes: usize,
    tls_failures: Vec<String>,
    streams: Vec<TcpStream>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    tls: Option<(TlsMode, Arc<rustls::ServerConfig>)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The test SMTP server. Stops (and closes open connections) when dropped.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    ca_pem: Option<String>,
}

const HOSTNAME: &str = "smtp.presswatch.test";

impl SmtpServer {
    /// Start without authentication (AUTH not advertised).
    pub fn start() -> SmtpServer {
        SmtpServer::start_inner(None, None)
    }

    /// Start requiring AUTH (PLAIN or LOGIN) with these credentials before
    /// MAIL FROM; advertises `AUTH PLAIN LOGIN`.
    pub fn with_auth(user: &str, pass: &str) -> SmtpServer {
        SmtpServer::start_inner(Some((user.to_string(), pass.to_string())), None)
    }

    /// Start speaking TLS (`mode`) without authentication, with a fresh test CA
    /// and a certificate for `localhost` / `127.0.0.1`; see [`SmtpServer::ca_pem`].
    pub fn start_tls(mode: TlsMode) -> SmtpServer {
        SmtpServer::start_inner(None, Some(mode))
    }

    /// [`SmtpServer::with_auth`] and [`SmtpServer::start_tls`] together.
    pub fn with_auth_tls(mode: TlsMode, user: &str, pass: &str) -> SmtpServer {
        SmtpServer::start_inner(Some((user.to_string(), pass.to_string())), Some(mode))
    }

    fn start_inner(auth: Option<(String, String)>, tls: Option<TlsMode>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().expect("local_addr").port();
        let pki = tls.map(|_| TestPki::new());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                auth,
                ..State::default()
            }),
            stop: AtomicBool::new(false),
            tls: tls.zip(pki.as_ref().map(|p| p.config.clone())),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("smtp-accept-{port}"))
            .spawn(move || accept_loop(listener, sh))
            .expect("spawn smtp thread");
        SmtpServer {
            port,
            shared,
            thread: Some(thread),
            ca_pem: pki.map(|p| p.ca_pem),
        }
    }

    /// PEM of the CA that signed the server certificate (TLS servers only).
    pub fn ca_pem(&self) -> &str {
        self.ca_pem
            .as_deref()
            .expect("ca_pem: this server was not started with TLS")
    }

    /// TLS handshakes completed (implicit or after STARTTLS).
    pub fn tls_handshakes(&self) -> usize {
        self.shared.lock().tls_handshakes
    }

    /// Why TLS handshakes failed (e.g. the client did not trust the certificate).
    pub fn tls_failures(&self) -> Vec<String> {
        self.shared.lock().tls_failures.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.lock().messages.clone()
    }

    /// Poll until at least `n` messages were accepted or `timeout` elapsed;
    /// returns all messages accepted by then (possibly fewer than `n`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = self.messages();
            if msgs.len() >= n || Instant::now() >= deadline {
                return msgs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn clear_messages(&self) {
        self.shared.lock().messages.clear();
    }

    /// The next `n` connections are accepted and closed at once, without a
    /// greeting (the client sees EOF / connection reset).
    pub fn refuse_next_connections(&self, n: usize) {
        self.shared.lock().refuse_next += n;
    }

    /// The next `n` connections get `421 4.3.2 Service not available` as the
    /// greeting and are then closed (a transient error for the client).
    pub fn reject_next_connections_with_421(&self, n: usize) {
        self.shared.lock().reject_421_next += n;
    }

    /// Queue replies for the next DATA completions, e.g. `[451, 250]`. Once the
    /// queue is empty every DATA gets 250. Only 2xx replies store the message.
    /// Known codes get a fitting text (451 `4.3.0 try later`, 550 `5.7.1 ...`).
    pub fn reply_to_data_with(&self, codes: Vec<u16>) {
        self.shared.lock().data_replies.extend(codes);
    }

    /// Credentials of successful AUTH exchanges, in order.
    pub fn auths(&self) -> Vec<(String, String)> {
        self.shared.lock().auths.clone()
    }

    /// Credentials of rejected AUTH exchanges, in order.
    pub fn failed_auths(&self) -> Vec<(String, String)> {
        self.shared.lock().failed_auths.clone()
    }

    /// Connections accepted so far (including refused ones).
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Number of completed DATA transfers (accepted or rejected).
    pub fn data_attempts(&self) -> usize {
        self.shared.lock().data_attempts
    }

    /// Every command line received, across connections (AUTH payloads elided).
    pub fn commands(&self) -> Vec<String> {
        self.shared.lock().commands.clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        for s in self.shared.lock().streams.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        let (id, refuse, reject) = {
            let mut st = shared.lock();
            st.connections += 1;
            let refuse = st.refuse_next > 0;
            let reject = !refuse && st.reject_421_next > 0;
            if refuse {
                st.refuse_next -= 1;
            } else if reject {
                st.reject_421_next -= 1;
            }
            if !refuse
                && !reject
                && let Ok(clone) = stream.try_clone()
            {
                st.streams.push(clone);
            }
            (st.connections, refuse, reject)
        };
        if refuse {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        if reject {
            let _ = stream.write_all(b"421 4.3.2 Service not available, closing channel\r\n");
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let sh = shared.clone();
        let _ = std::thread::Builder::new()
            .name(format!("smtp-conn-{id}"))
            .spawn(move || {
                let _ = Session::new(stream, sh, id).and_then(|mut s| s.run());
            });
    }
}

struct Session {
    stream: Conn,
    buf: Vec<u8>,
    shared: Arc<Shared>,
    id: usize,
    greeted: bool,
    user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

fn data_reply(code: u16) -> String {
    let text = match code {
        250 => "2.0.0 OK: queued",
        421 => "4.3.2 Service not available, closing channel",
        450 => "4.2.0 Mailbox unavailable",
        451 => "4.3.0 try later",
        452 => "4.3.1 Insufficient system storage",
        550 => "5.7.1 Message rejected",
        552 => "5.3.4 Message too big",
        554 => "5.6.0 Transaction failed",
        c if (200..300).contains(&c) => "2.0.0 OK",
        c if (400..500).contains(&c) => "4.0.0 Temporary failure",
        _ => "5.0.0 Permanent failure",
    };
    format!("{code} {text}")
}

impl Session {
    fn new(stream: TcpStream, shared: Arc<Shared>, id: usize) -> io::Result<Session> {
        // Safety net against leaked threads; tests finish long before this.
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        let stream = match &shared.tls {
            Some((TlsMode::Implicit, config)) => Conn::tls(config, stream)?,
            _ => Conn::Plain(stream),
        };
        Ok(Session {
            stream,
            buf: Vec::new(),
            shared,
            id,
            greeted: false,
            user: None,
            mail_from: None,
            rcpt_to: Vec::new(),
        })
    }

    fn reply(&mut self, line: &str) -> io::Result<()> {
        self.stream.write_all(line.as_bytes())?;
        self.stream.write_all(b"\r\n")?;
        self.stream.flush()
    }

    /// Next line including its terminator, or None at EOF.
    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(Some(self.buf.drain(..=pos).collect()));
            }
            let mut tmp = [0u8; 8192];
            let n = self.stream.read(&mut tmp)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    fn read_text_line(&mut self) -> io::Result<Option<String>> {
        Ok(self.read_line()?.map(|l| {
            String::from_utf8_lossy(&l)
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }))
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    /// Finish the TLS handshake (if the connection is TLS and it is pending),
    /// recording the outcome.
    fn handshake(&mut self) -> io::Result<()> {
        let Conn::Tls(s) = &mut self.stream else {
            return Ok(());
        };
        let mut result = Ok(());
        while s.conn.is_handshaking() {
            if let Err(e) = s.conn.complete_io(&mut s.sock) {
                result = Err(e);
                break;
            }
        }
        let mut st = self.shared.lock();
        match result {
            Ok(()) => {
                st.tls_handshakes += 1;
                Ok(())
            }
            Err(e) => {
                st.tls_failures.push(e.to_string());
                Err(e)
            }
        }
    }

    /// STARTTLS offered, not yet taken: AUTH and MAIL must wait.
    fn needs_starttls(&self) -> bool {
        matches!(self.shared.tls, Some((TlsMode::StartTls, _))) && !self.stream.is_tls()
    }

    fn starttls(&mut self) -> io::Result<()> {
        let config = match &self.shared.tls {
            Some((TlsMode::StartTls, config)) => config.clone(),
            _ => return self.reply("502 5.5.1 STARTTLS not supported"),
        };
        if self.stream.is_tls() {
            return self.reply("503 5.5.1 TLS already active");
        }
        self.reply("220 2.0.0 Ready to start TLS")?;
        // RFC 3207: anything pipelined after STARTTLS is discarded, and the
        // session starts over (EHLO again, no authentication).
        self.buf.clear();
        self.greeted = false;
        self.user = None;
        self.reset();
        let Conn::Plain(tcp) = std::mem::replace(&mut self.stream, Conn::Gone) else {
            return Err(gone());
        };
        self.stream = Conn::tls(&config, tcp)?;
        self.handshake()
    }

    fn run(&mut self) -> io::Result<()> {
        self.handshake()?;
        self.reply(&format!("220 {HOSTNAME} ESMTP presswatch-test ready"))?;
        while let Some(line) = self.read_text_line()? {
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (line.trim().to_ascii_uppercase(), String::new()),
            };
            let logged = if verb == "AUTH" {
                format!("AUTH {}", arg.split(' ').next().unwrap_or(""))
            } else {
                line.clone()
            };
            self.shared.lock().commands.push(logged);
            match verb.as_str() {
                "EHLO" => {
                    self.reset();
                    self.greeted = true;
                    let mut lines = vec![
                        format!("{HOSTNAME} Hello {arg}"),
                        "8BITMIME".to_string(),
                        "SMTPUTF8".to_string(),
                        "SIZE 52428800".to_string(),
                    ];
                    if self.needs_starttls() {
                        lines.push("STARTTLS".to_string());
                    }
                    if self.shared.lock().auth.is_some() {
                        lines.push("AUTH PLAIN LOGIN".to_string());
                    }
                    let last = lines.len() - 1;
                    let mut out = String::new();
                    for (i, l) in lines.iter().enumerate() {
                        let sep = if i == last { ' ' } else { '-' };
                        out.push_str(&format!("250{sep}{l}\r\n"));
                    }
                    self.stream.write_all(out.as_bytes())?;
                }
                "HELO" => {
                    self.reset();
                    self.greeted = true;
                    self.reply(&format!("250 {HOSTNAME}"))?;
                }
                "AUTH" if self.needs_starttls() => {
                    self.reply("530 5.7.0 Must issue a STARTTLS command first")?
                }
                "AUTH" => self.auth(&arg)?,
                "MAIL" => {
                    let required = self.shared.lock().auth.is_some();
                    if !self.greeted {
                        self.reply("503 5.5.1 Send EHLO/HELO first")?;
                    } else if self.needs_starttls() {
                        self.reply("530 5.7.0 Must issue a STARTTLS command first")?;
                    } else if required && self.user.is_none() {
                        self.reply("530 5.7.0 Authentication required")?;
                    } else if self.mail_from.is_some() {
                        self.reply("503 5.5.1 Nested MAIL command")?;
                    } else if let Some(addr) = path_arg(&arg, "FROM:") {
                        self.mail_from = Some(addr);
                        self.reply("250 2.1.0 OK")?;
                    } else {
                        self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")?;
                    }
                }
                "RCPT" => {
                    if self.mail_from.is_none() {
                        self.reply("503 5.5.1 Need MAIL before RCPT")?;
                    } else if let Some(addr) = path_arg(&arg, "TO:").filter(|a| !a.is_empty()) {
                        self.rcpt_to.push(addr);
                        self.reply("250 2.1.5 OK")?;
                    } else {
                        self.reply("501 5.5.4 Syntax: RCPT TO:<address>")?;
                    }
                }
                "DATA" => {
                    if self.mail_from.is_none() || self.rcpt_to.is_empty() {
                        self.reply("503 5.5.1 Need MAIL and RCPT before DATA")?;
                        continue;
                    }
                    self.reply("354 End data with <CR><LF>.<CR><LF>")?;
                    let mut data = Vec::new();
                    loop {
                        let Some(line) = self.read_line()? else {
                            return Ok(()); // client went away mid-DATA
                        };
                        if line == b".\r\n" || line == b".\n" {
                            break;
                        }
                        let line = if line.starts_with(b".") {
                            &line[1..]
                        } else {
                            &line[..]
                        };
                        data.extend_from_slice(line);
                    }
                    let code = {
                        let mut st = self.shared.lock();
                        st.data_attempts += 1;
                        let code = st.data_replies.pop_front().unwrap_or(250);
                        if (200..300).contains(&code) {
                            st.messages.push(ReceivedMail {
                                mail_from: self.mail_from.clone().unwrap_or_default(),
                                rcpt_to: self.rcpt_to.clone(),
                                data,
                                auth_user: self.user.clone(),
                                connection: self.id,
                                tls: self.stream.is_tls(),
                            });
                        }
                        code
                    };
                    self.reset();
                    self.reply(&data_reply(code))?;
                }
                "RSET" => {
                    self.reset();
                    self.reply("250 2.0.0 OK")?;
                }
                "NOOP" => self.reply("250 2.0.0 OK")?,
                "VRFY" => self.reply("252 2.5.2 Cannot VRFY user")?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye")?;
                    if let Conn::Tls(s) = &mut self.stream {
                        s.conn.send_close_notify();
                        let _ = s.flush();
                    }
                    if let Some(tcp) = self.stream.tcp() {
                        let _ = tcp.shutdown(Shutdown::Both);
                    }
                    return Ok(());
                }
                "STARTTLS" => self.starttls()?,
                _ => self.reply("500 5.5.2 Command unrecognized")?,
            }
        }
        Ok(())
    }

    fn auth(&mut self, arg: &str) -> io::Result<()> {
        let Some((user, pass)) = self.shared.lock().auth.clone() else {
            return self.reply("503 5.5.1 AUTH not available");
        };
        if self.user.is_some() {
            return self.reply("503 5.5.1 Already authenticated");
        }
        let mut parts = arg.split_whitespace();
        let mech = parts.next().unwrap_or("").to_ascii_uppercase();
        let initial = parts.next().map(str::to_string);
        let creds = match mech.as_str() {
            "PLAIN" => {
                let resp = match initial {
                    Some(r) => r,
                    None => {
                        self.reply("334 ")?;
                        match self.read_text_line()? {
                            Some(r) => r,
                            None => return Ok(()),
                        }
                    }
                };
                if resp == "*" {
                    return self.reply("501 5.7.0 Authentication cancelled");
                }
                decode_b64(&resp).and_then(|raw| {
                    let mut f = raw.split(|&b| b == 0);
                    let _authzid = f.next()?;
                    let u = String::from_utf8(f.next()?.to_vec()).ok()?;
                    let p = String::from_utf8(f.next()?.to_vec()).ok()?;
                    Some((u, p))
                })
            }
            "LOGIN" => {
                let u = match initial {
                    Some(r) => r,
                    None => {
                        self.reply("334 VXNlcm5hbWU6")?;
                        match self.read_text_line()? {
                            Some(r) => r,
                            None => return Ok(()),
                        }
                    }
                };
                if u == "*" {
                    return self.reply("501 5.7.0 Authentication cancelled");
                }
                self.reply("334 UGFzc3dvcmQ6")?;
                let Some(p) = self.read_text_line()? else {
                    return Ok(());
                };
                if p == "*" {
                    return self.reply("501 5.7.0 Authentication cancelled");
                }
                let dec = |s: &str| decode_b64(s).and_then(|b| String::from_utf8(b).ok());
                dec(&u).zip(dec(&p))
            }
            _ => return self.reply("504 5.5.4 Unrecognized authentication type"),
        };
        let Some((u, p)) = creds else {
            return self.reply("501 5.5.2 Cannot decode response");
        };
        if u == user && p == pass {
            self.shared.lock().auths.push((u.clone(), p));
            self.user = Some(u);
            self.reply("235 2.7.0 Authentication successful")
        } else {
            self.shared.lock().failed_auths.push((u, p));
            self.reply("535 5.7.8 Authentication credentials invalid")
        }
    }
}

/// Parse `FROM:<addr> PARAMS` / `TO:<addr>`; returns the address without brackets.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_string())
    } else {
        Some(rest.split_whitespace().next()?.to_string())
    }
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
