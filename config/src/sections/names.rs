//! Name rules: Linux interface names and the names of routes and peers.

use toml::de::DeValue;

use crate::reader::{Bad, bad, string};

/// A Linux interface name: 1..=15 bytes, no '/', ':' or whitespace, not "." or "..".
pub(crate) fn ifname(v: &DeValue<'_>) -> Result<String, Bad> {
    let s = string(v)?;
    let help = "use 1 to 15 characters without '/', ':' or spaces, e.g. \"vcpe0\"";
    if s.is_empty() || s.len() > 15 {
        return Err(bad(
            format!(
                "interface name '{s}' is {} bytes long; Linux allows 1 to 15",
                s.len()
            ),
            help.to_string(),
        ));
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(bad(
            format!("'{s}' is not a valid Linux interface name"),
            help.to_string(),
        ));
    }
    Ok(s)
}

/// A route or peer name: `[A-Za-z0-9_.-]{1,64}`.
pub(crate) fn object_name(v: &DeValue<'_>) -> Result<String, Bad> {
    let s = string(v)?;
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(s)
    } else {
        Err(bad(
            format!("'{s}' is not a valid name"),
            "use 1 to 64 letters, digits, '_', '.' or '-', e.g. \"vxnet-a\"".to_string(),
        ))
    }
}

/// A network prefix whose host bits are zero.
pub(crate) fn network(v: &DeValue<'_>) -> Result<ipnet::IpNet, Bad> {
    let net: ipnet::IpNet = crate::reader::parsed(v, "a network prefix", "10.1.1.0/24")?;
    if net.trunc() != net {
        return Err(bad(
            format!("prefix {net} has host bits set"),
            format!("use the network address: \"{}\"", net.trunc()),
        ));
    }
    Ok(net)
}
