//! The kernel's count of connections dropped because a listen queue was
//! full (`TcpExt: ListenOverflows` in /proc/net/netstat). It is counted for
//! the whole machine, not per socket; on a machine doing nothing else it
//! says how many of the benchmark's connects modhost's accept queue turned
//! away, each costing its client a SYN retransmit (a second or more).

/// The count so far, if /proc/net/netstat has it.
pub fn overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let column = names
        .split_whitespace()
        .position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(column)?.parse().ok()
}
