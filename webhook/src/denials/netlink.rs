//! The kernel's audit netlink socket: the read-only multicast group that carries every audit
//! record (`AUDIT_NLGRP_READLOG`, needs CAP_AUDIT_READ; it works next to a running auditd and
//! does not need one), and the control requests that ask (`AUDIT_GET`) or switch
//! (`AUDIT_SET`) whether the kernel audits at all (both need CAP_AUDIT_CONTROL and the host's
//! PID namespace). Framing and the status message come from the rust-netlink crates.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_packet_audit::{AuditMessage, StatusMessage};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket, protocols::NETLINK_AUDIT};

/// `AUDIT_NLGRP_READLOG`: the multicast group of audit records.
const AUDIT_NLGRP_READLOG: u32 = 1;
/// `AUDIT_STATUS_ENABLED`: the `mask` bit of `audit_status.enabled`.
const AUDIT_STATUS_ENABLED: u32 = 0x0001;
/// `AUDIT_STATUS_BACKLOG_LIMIT`: the `mask` bit of `audit_status.backlog_limit`.
const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x0010;
/// How long the kernel gets to answer a control request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening, binding or reading the socket failed.
    #[error("{what}: {source}{}", hint(source))]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The kernel refused a control request.
    #[error("{what}: the kernel answered {source}{}", hint(source))]
    Refused {
        /// The request.
        what: &'static str,
        /// The error the kernel returned.
        source: io::Error,
    },
    /// The kernel did not answer in time, or answered something else.
    #[error("{0}")]
    Protocol(String),
}

impl NetlinkError {
    /// Whether the kernel refused for want of a right (EPERM, EACCES): no retry can work.
    pub fn is_permission(&self) -> bool {
        match self {
            Self::Io { source, .. } | Self::Refused { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES))
            }
            Self::Protocol(_) => false,
        }
    }
}

fn hint(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EPERM) => {
            " (reading needs CAP_AUDIT_READ; asking or switching auditing needs CAP_AUDIT_CONTROL and the host's PID namespace)"
        }
        Some(libc::ECONNREFUSED) => " (audit works only in the host's user namespace)",
        Some(libc::EPROTONOSUPPORT) => " (this kernel has no audit support: CONFIG_AUDIT)",
        _ => "",
    }
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> NetlinkError {
    move |source| NetlinkError::Io { what, source }
}

/// One received datagram.
#[derive(Debug)]
pub enum Received {
    /// Audit messages: (record type, payload).
    Messages(Vec<(u16, Vec<u8>)>),
    /// The socket's buffer overflowed: the kernel dropped records for this reader.
    Overrun,
}

/// Splits a datagram into its netlink messages: (type, payload, whole message). A truncated
/// trailing message ends the list.
pub fn frames(datagram: &[u8]) -> Vec<(u16, &[u8], &[u8])> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while let Ok(buffer) = NetlinkBuffer::new_checked(rest) {
        let length = buffer.length() as usize;
        let Some(whole) = rest.get(..length) else {
            break;
        };
        out.push((buffer.message_type(), buffer.payload(), whole));
        // Messages are 4-byte aligned.
        let next = length.div_ceil(4) * 4;
        if next == 0 || next > rest.len() {
            break;
        }
        rest = &rest[next..];
    }
    out
}

/// A member of the audit multicast group.
pub struct AuditReader {
    socket: TokioSocket,
}

/// The receive buffer the kernel gave `socket` (`SO_RCVBUF` reports twice the requested size,
/// its bookkeeping included: halved here, to compare with what was asked).
fn receive_buffer(socket: &netlink_sys::Socket) -> Option<usize> {
    socket.get_rx_buf_sz().ok().map(|doubled| doubled / 2)
}

impl AuditReader {
    /// Joins the group (on the current Tokio runtime) and asks for a receive buffer of
    /// `buffer_bytes` (past the system's `rmem_max` only with CAP_NET_ADMIN).
    pub fn open(buffer_bytes: usize) -> Result<Self, NetlinkError> {
        let mut socket =
            TokioSocket::new(NETLINK_AUDIT).map_err(io_error("open the audit netlink socket"))?;
        socket
            .socket_mut()
            .bind(&SocketAddr::new(0, 1 << (AUDIT_NLGRP_READLOG - 1)))
            .map_err(io_error("join the audit multicast group"))?;
        let size = libc::c_int::try_from(buffer_bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt on a socket this function owns, with a pointer to a c_int that
        // lives across the call and its exact size.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced != 0 {
            socket
                .socket_ref()
                .set_rx_buf_sz(size)
                .map_err(io_error("size the audit socket's receive buffer"))?;
            // Without CAP_NET_ADMIN the kernel caps the size at net.core.rmem_max, silently:
            // say what the buffer really is, since a burst beyond it is lost.
            let got = receive_buffer(socket.socket_ref());
            if got.is_some_and(|got| got < buffer_bytes) {
                tracing::warn!(
                    asked = buffer_bytes,
                    got,
                    "the audit socket's receive buffer is smaller than asked (SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it net.core.rmem_max caps it): a burst of denials beyond it is dropped and counted in landlock_denials_lost_records_total"
                );
            }
        }
        Ok(Self { socket })
    }

    /// Waits for the next datagram.
    pub async fn receive(&mut self) -> Result<Received, NetlinkError> {
        match self.socket.recv_from_full().await {
            Ok((datagram, _)) => Ok(Received::Messages(
                frames(&datagram)
                    .into_iter()
                    .map(|(t, payload, _)| (t, payload.to_vec()))
                    .collect(),
            )),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Overrun),
            Err(e) => Err(NetlinkError::Io {
                what: "read the audit multicast group",
                source: e,
            }),
        }
    }
}

/// What `AUDIT_GET` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditStatus {
    /// 0 off, 1 on, 2 on and locked until reboot.
    pub enabled: u32,
    /// Records the kernel dropped (backlog full, rate limit, printk limit).
    pub lost: u32,
    /// The backlog limit.
    pub backlog_limit: u32,
    /// The registered auditd's pid (0: none).
    pub auditd_pid: u32,
}

async fn request(
    message: AuditMessage,
    flags: u16,
    what: &'static str,
) -> Result<Option<StatusMessage>, NetlinkError> {
    let mut socket =
        TokioSocket::new(NETLINK_AUDIT).map_err(io_error("open the audit netlink socket"))?;
    socket
        .socket_mut()
        .bind_auto()
        .map_err(io_error("bind the audit netlink socket"))?;
    let mut packet = NetlinkMessage::from(message);
    packet.header.flags = flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket
        .send_to(&buf, &SocketAddr::new(0, 0))
        .await
        .map_err(io_error(what))?;
    let answer = async {
        loop {
            let (datagram, _) = socket.recv_from_full().await.map_err(io_error(what))?;
            for (_, _, whole) in frames(&datagram) {
                let Ok(parsed) = NetlinkMessage::<AuditMessage>::deserialize(whole) else {
                    continue;
                };
                match parsed.payload {
                    NetlinkPayload::InnerMessage(AuditMessage::GetStatus(Some(status))) => {
                        return Ok(Some(status));
                    }
                    NetlinkPayload::Error(error) => match error.code {
                        None => return Ok(None),
                        Some(code) => {
                            return Err(NetlinkError::Refused {
                                what,
                                source: io::Error::from_raw_os_error(-code.get()),
                            });
                        }
                    },
                    _ => {}
                }
            }
        }
    };
    tokio::time::timeout(CONTROL_TIMEOUT, answer)
        .await
        .map_err(|_| NetlinkError::Protocol(format!("{what}: no answer from the kernel")))?
}

/// Asks the kernel whether it audits (`AUDIT_GET`).
pub async fn status() -> Result<AuditStatus, NetlinkError> {
    const WHAT: &str = "ask whether the kernel audits (AUDIT_GET)";
    match request(AuditMessage::GetStatus(None), NLM_F_REQUEST, WHAT).await? {
        Some(s) => Ok(AuditStatus {
            enabled: s.enabled,
            lost: s.lost,
            backlog_limit: s.backlog_limit,
            auditd_pid: s.pid,
        }),
        None => Err(NetlinkError::Protocol(format!(
            "{WHAT}: the kernel sent no status"
        ))),
    }
}

/// Switches auditing on or off (`AUDIT_SET`).
pub async fn set_enabled(on: bool) -> Result<(), NetlinkError> {
    let mut status = StatusMessage::new();
    status.mask = AUDIT_STATUS_ENABLED;
    status.enabled = u32::from(on);
    set_status(status, "switch kernel auditing (AUDIT_SET)").await
}

/// Sets the kernel's audit backlog limit (`AUDIT_SET`, as `auditctl -b`).
pub async fn set_backlog_limit(limit: u32) -> Result<(), NetlinkError> {
    let mut status = StatusMessage::new();
    status.mask = AUDIT_STATUS_BACKLOG_LIMIT;
    status.backlog_limit = limit;
    set_status(status, "set the audit backlog limit (AUDIT_SET)").await
}

/// Sends one `AUDIT_SET` for the fields in `status.mask` and waits for the kernel's ack.
async fn set_status(status: StatusMessage, what: &'static str) -> Result<(), NetlinkError> {
    request(
        AuditMessage::SetStatus(status),
        NLM_F_REQUEST | NLM_F_ACK,
        what,
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size reported is the one asked for (the kernel doubles it for its bookkeeping), so
    /// a buffer capped by rmem_max is told from one that is not.
    #[test]
    fn the_receive_buffer_is_read_back_as_asked() {
        let socket = netlink_sys::Socket::new(NETLINK_AUDIT).expect("an audit netlink socket");
        socket.set_rx_buf_sz(65536).expect("SO_RCVBUF");
        assert_eq!(receive_buffer(&socket), Some(65536));
    }

    #[test]
    fn frames_split_aligned_messages_and_stop_at_truncation() {
        let mut datagram = Vec::new();
        for (t, payload) in [
            (1423u16, &b"audit(1.2:3): a=1"[..]),
            (1300, b"audit(1.2:3): b"),
        ] {
            let length = 16 + payload.len();
            datagram.extend_from_slice(&(length as u32).to_ne_bytes());
            datagram.extend_from_slice(&t.to_ne_bytes());
            datagram.extend_from_slice(&[0; 10]);
            datagram.extend_from_slice(payload);
            datagram.resize(datagram.len().div_ceil(4) * 4, 0);
        }
        let found: Vec<(u16, &[u8])> = frames(&datagram)
            .into_iter()
            .map(|(t, p, _)| (t, p))
            .collect();
        assert_eq!(
            found,
            [
                (1423, &b"audit(1.2:3): a=1"[..]),
                (1300, b"audit(1.2:3): b")
            ]
        );
        assert_eq!(frames(&datagram[..20]).len(), 0);
        assert_eq!(frames(&[]).len(), 0);
    }
}
