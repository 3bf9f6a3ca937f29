//! SMTP, one step at a time, so a failure names its step and the server's reply: resolve,
//! connect, STARTTLS (with the certificate's subject and validity), AUTH, MAIL FROM / RCPT TO,
//! DATA. The same steps send notifications; every connection is closed with QUIT.

use super::{Recorder, failure};
use app::domain::{SendCode, SendFailure, StepName};
use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

mod pool;
mod replies;
pub use pool::Pool;
pub use replies::classify;
use replies::{certificate_summary, opportunistic_tls_parameters, reply_text, tls_parameters};

const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to connect.
pub struct SmtpTarget<'a> {
    pub host: &'a str,
    pub port: u16,
    /// STARTTLS required (never silently plain).
    pub starttls: bool,
    pub user: &'a str,
    pub password: &'a SecretString,
    /// Trusted besides the public roots (`SMTP_CA_FILE`).
    pub extra_roots: &'a [Vec<u8>],
    /// How long one step may wait for the server.
    pub timeout: Duration,
}

/// Runs every step; returns at the first failure. With a pool, an idle connection to the same
/// server and account is reused (its first four steps then show as skipped) and the connection
/// is kept for the next mail.
#[tracing::instrument(skip_all, fields(host = target.host, port = target.port))]
pub async fn deliver(
    target: &SmtpTarget<'_>,
    message: &Message,
    rec: &mut Recorder,
    pool: Option<&Pool>,
) -> Result<(), SendFailure> {
    let key = target.pool_key();
    let reused = match pool {
        Some(pool) => pool.take(&key).await,
        None => None,
    };
    let mut conn = match reused {
        Some(conn) => {
            for step in [
                StepName::Resolve,
                StepName::Connect,
                StepName::Starttls,
                StepName::Auth,
            ] {
                rec.skip(step, "connection reused");
            }
            conn
        }
        None => open(target, rec).await?,
    };
    let result = transmit(&mut conn, message, rec, target.timeout).await;
    match (&result, pool) {
        (Ok(()), Some(pool)) => pool.put(key, conn).await,
        (Ok(()), None) => {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
        }
        (Err(_), _) => abort(&mut conn).await,
    }
    result
}

/// Resolve, connect, STARTTLS, AUTH.
#[tracing::instrument(level = "debug", skip_all)]
async fn open(
    target: &SmtpTarget<'_>,
    rec: &mut Recorder,
) -> Result<AsyncSmtpConnection, SendFailure> {
    let addrs = rec
        .step(StepName::Resolve, resolve(target.host, target.port))
        .await?;

    // Connect and EHLO.
    let hello = ClientId::default();
    let mut conn = rec
        .step(StepName::Connect, connect(target, &addrs, &hello))
        .await?;

    // STARTTLS: required when SSL is on (never silently plain).
    if target.starttls {
        let done = rec
            .step(
                StepName::Starttls,
                within(target.timeout, StepName::Starttls, async {
                    if !conn.can_starttls() {
                        return Err(failure(
                            SendCode::StarttlsUnavailable,
                            StepName::Starttls,
                            "the server's EHLO does not offer STARTTLS",
                            false,
                        ));
                    }
                    let params = tls_parameters(target.host, target.extra_roots)?;
                    let detail = upgrade(&mut conn, params, &hello).await?;
                    Ok(((), detail))
                }),
            )
            .await;
        if let Err(f) = done {
            // A failed handshake leaves no stream to say QUIT on: just close.
            if f.code == SendCode::StarttlsUnavailable {
                abort(&mut conn).await;
            }
            return Err(f);
        }
    } else if conn.can_starttls() {
        // SSL off, but the server offers STARTTLS: use it, as Postfix's `may` level does, so
        // the password and the mail do not travel in clear. The certificate is not checked
        // here (SSL on checks it); a failed handshake falls back to a new plain connection.
        let started = std::time::Instant::now();
        let upgraded = within(target.timeout, StepName::Starttls, async {
            let params = opportunistic_tls_parameters(target.host)?;
            upgrade(&mut conn, params, &hello).await
        })
        .await;
        match upgraded {
            Ok(summary) => rec.ok(
                StepName::Starttls,
                started.elapsed(),
                &format!(
                    "SSL off, but the server offers STARTTLS: encrypted (certificate not checked; turn SSL on to check it) — {summary}"
                ),
            ),
            Err(f) => {
                abort(&mut conn).await;
                rec.skip(
                    StepName::Starttls,
                    &format!(
                        "SSL off: the server offers STARTTLS but the handshake failed ({}); continued on a new plain connection, the password travels unencrypted",
                        f.reply
                    ),
                );
                conn = rec
                    .step(StepName::Connect, connect(target, &addrs, &hello))
                    .await?;
            }
        }
    } else {
        rec.skip(
            StepName::Starttls,
            "SSL off and the server offers no STARTTLS: plain connection, the password travels unencrypted",
        );
    }

    // AUTH, when the server offers a mechanism this product speaks.
    let offers = [Mechanism::Plain, Mechanism::Login]
        .into_iter()
        .any(|m| conn.server_info().supports_auth_mechanism(m));
    if offers {
        let done = rec
            .step(
                StepName::Auth,
                within(target.timeout, StepName::Auth, async {
                    let credentials = Credentials::new(
                        target.user.to_string(),
                        target.password.expose_secret().to_string(),
                    );
                    let response = conn
                        .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                        .await
                        .map_err(|e| classify(StepName::Auth, &e))?;
                    Ok(((), reply_text(&response)))
                }),
            )
            .await;
        if let Err(f) = done {
            abort(&mut conn).await;
            return Err(f);
        }
    } else {
        rec.skip(StepName::Auth, "the server offers no AUTH here");
    }
    Ok(conn)
}

/// STARTTLS on `conn` with `params`; returns the server certificate's summary for the report.
#[tracing::instrument(level = "debug", skip_all)]
async fn upgrade(
    conn: &mut AsyncSmtpConnection,
    params: TlsParameters,
    hello: &ClientId,
) -> Result<String, SendFailure> {
    conn.starttls(params, hello)
        .await
        .map_err(|e| classify(StepName::Starttls, &e))?;
    Ok(conn
        .peer_certificate()
        .ok()
        .map(|der| certificate_summary(&der))
        .unwrap_or_else(|| "encrypted".into()))
}

/// TCP connect and EHLO; the detail names the server and its address.
#[tracing::instrument(level = "debug", skip_all)]
async fn connect(
    target: &SmtpTarget<'_>,
    addrs: &[SocketAddr],
    hello: &ClientId,
) -> Result<(AsyncSmtpConnection, String), SendFailure> {
    within(target.timeout, StepName::Connect, async {
        let conn =
            AsyncSmtpConnection::connect_tokio1(addrs, Some(target.timeout), hello, None, None)
                .await
                .map_err(|e| classify(StepName::Connect, &e))?;
        let detail = format!("{} ({})", conn.server_info().name(), addrs[0]);
        Ok((conn, detail))
    })
    .await
}

/// MAIL FROM / RCPT TO, then DATA.
#[tracing::instrument(level = "debug", skip_all)]
async fn transmit(
    conn: &mut AsyncSmtpConnection,
    message: &Message,
    rec: &mut Recorder,
    timeout: Duration,
) -> Result<(), SendFailure> {
    let envelope = message.envelope().clone();
    rec.step(
        StepName::Envelope,
        within(timeout, StepName::Envelope, async {
            let mut replies = Vec::new();
            let r = conn
                .command(Mail::new(envelope.from().cloned(), vec![]))
                .await
                .map_err(|e| classify(StepName::Envelope, &e))?;
            replies.push(reply_text(&r));
            for to in envelope.to() {
                let r = conn
                    .command(Rcpt::new(to.clone(), vec![]))
                    .await
                    .map_err(|e| classify(StepName::Envelope, &e))?;
                replies.push(reply_text(&r));
            }
            Ok(((), replies.join(" / ")))
        }),
    )
    .await?;

    let text = String::from_utf8_lossy(&message.formatted()).into_owned();
    rec.step(
        StepName::Data,
        within(timeout, StepName::Data, async {
            conn.command(Data)
                .await
                .map_err(|e| classify(StepName::Data, &e))?;
            // The message and its final dot in one write: written apart, Nagle's algorithm and
            // the server's delayed ACK cost 40 ms per mail.
            let r = conn
                .command(DataBlock(&text))
                .await
                .map_err(|e| classify(StepName::Data, &e))?;
            Ok(((), reply_text(&r)))
        }),
    )
    .await
}

/// A message as sent after DATA (RFC 5321 §2.3.8, §4.5.2): every line ending, CR LF or a
/// bare CR or LF, becomes CR LF; then lines starting with "." get one more, and the end is
/// CR LF "." CR LF. Normalising first closes SMTP smuggling (CVE-2023-51764): a receiver that
/// also takes `<LF>.<LF>` as the end of the data can never be shown a second message.
struct DataBlock<'a>(&'a str);

impl std::fmt::Display for DataBlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let normalized = self.0.replace("\r\n", "\n").replace('\r', "\n");
        let text = normalized.strip_suffix('\n').unwrap_or(&normalized);
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                f.write_str("\r\n")?;
            }
            if line.starts_with('.') {
                f.write_str(".")?;
            }
            f.write_str(line)?;
        }
        f.write_str("\r\n.\r\n")
    }
}

/// Says QUIT if the server still listens, and closes; never waits long on a dead server.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn abort(conn: &mut AsyncSmtpConnection) {
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.abort()).await;
}

/// A step that does not finish in time fails as a timeout (lettre's own timeout covers only
/// parts of the exchange).
#[tracing::instrument(level = "debug", skip_all)]
async fn within<T>(
    limit: Duration,
    step: StepName,
    work: impl std::future::Future<Output = Result<T, SendFailure>>,
) -> Result<T, SendFailure> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(failure(
            SendCode::Timeout,
            step,
            &format!("no answer within {} s", limit.as_secs()),
            true,
        )),
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn resolve(host: &str, port: u16) -> Result<(Vec<SocketAddr>, String), SendFailure> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok((
            vec![SocketAddr::new(ip, port)],
            format!("{ip} (IP address)"),
        ));
    }
    let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    match lookup {
        Err(_) => Err(failure(
            SendCode::Timeout,
            StepName::Resolve,
            "no DNS answer in time",
            true,
        )),
        Ok(Err(e)) => Err(failure(
            SendCode::DnsFailed,
            StepName::Resolve,
            &e.to_string(),
            true,
        )),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                return Err(failure(
                    SendCode::DnsFailed,
                    StepName::Resolve,
                    "no address",
                    true,
                ));
            }
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            Ok((addrs, shown.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_dot_stuffed_and_terminated_once() {
        assert_eq!(
            DataBlock("a\r\n.b\r\n..c\r\nd.\r\n").to_string(),
            "a\r\n..b\r\n...c\r\nd.\r\n.\r\n"
        );
        assert_eq!(DataBlock(".x").to_string(), "..x\r\n.\r\n");
    }

    #[test]
    fn bare_line_endings_cannot_end_the_data_early() {
        // The smuggling payloads: <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>, <CR><LF>.<LF>.
        for (input, expected) in [
            (
                "a\n.\nMAIL FROM:<x@evil>",
                "a\r\n..\r\nMAIL FROM:<x@evil>\r\n.\r\n",
            ),
            ("a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"),
            ("a\n.\r\nb\n", "a\r\n..\r\nb\r\n.\r\n"),
            ("a\r\n.\nb", "a\r\n..\r\nb\r\n.\r\n"),
        ] {
            let out = DataBlock(input).to_string();
            assert_eq!(out, expected, "{input:?}");
            // The only end of data is the last one, and no bare CR or LF is left.
            assert_eq!(out.matches("\r\n.\r\n").count(), 1, "{out:?}");
            assert_eq!(out.replace("\r\n", "").find(['\r', '\n']), None, "{out:?}");
        }
    }
}
