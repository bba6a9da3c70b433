//! XEP-0156 §3: `/.well-known/host-meta` (XRD) and `host-meta.json` (JRD)
//! announcing the WebSocket (RFC 7395 §4) and BOSH endpoints of the host
//! named in the `Host` header.

use super::{HttpConn, Request, WebContext, CORS};

/// RFC 7395 §4 link relation.
const REL_WEBSOCKET: &str = "urn:xmpp:alt-connections:websocket";
/// XEP-0156 §3 link relation for BOSH.
const REL_BOSH: &str = "urn:xmpp:alt-connections:xbosh";

/// The links for `domain`: (relation, URL).
pub(crate) fn links(ctx: &WebContext, domain: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if ctx.web.websocket {
        out.push((
            REL_WEBSOCKET,
            ctx.web.websocket_url.replace("{domain}", domain),
        ));
    }
    if !ctx.web.bosh_url.is_empty() {
        out.push((REL_BOSH, ctx.web.bosh_url.replace("{domain}", domain)));
    }
    out
}

/// The XRD document (RFC 6415 §3).
pub(crate) fn xrd(links: &[(&str, String)]) -> String {
    let mut s = String::from("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
    for (rel, href) in links {
        s.push_str(&format!(
            "  <Link rel='{rel}' href='{}'/>\n",
            xml_escape(href)
        ));
    }
    s.push_str("</XRD>\n");
    s
}

/// The JRD document (RFC 6415 appendix A).
pub(crate) fn jrd(links: &[(&str, String)]) -> String {
    let items: Vec<String> = links
        .iter()
        .map(|(rel, href)| format!("{{\"rel\":\"{rel}\",\"href\":\"{}\"}}", json_escape(href)))
        .collect();
    format!("{{\"links\":[{}]}}\n", items.join(","))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn json_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => format!("\\u{:04x}", u32::from(c)).chars().collect(),
            c => vec![c],
        })
        .collect()
}

/// Answer a host-meta request.
pub(super) async fn serve(
    conn: &mut HttpConn,
    req: &Request,
    ctx: &WebContext,
) -> std::io::Result<bool> {
    if req.method != "GET" && req.method != "HEAD" {
        conn.respond(405, &[("Allow", "GET, HEAD, OPTIONS")], b"")
            .await?;
        return Ok(true);
    }
    let Some(domain) = req.host().filter(|h| ctx.hosts.iter().any(|d| d == h)) else {
        conn.respond(404, &CORS, b"no such host\n").await?;
        return Ok(true);
    };
    let links = links(ctx, &domain);
    let (body, ctype) = if req.path.ends_with(".json") {
        (jrd(&links), "application/json")
    } else {
        (xrd(&links), "application/xrd+xml")
    };
    let [a, b, c] = CORS;
    let headers = [a, b, c, ("Content-Type", ctype)];
    let body = if req.method == "HEAD" {
        Vec::new()
    } else {
        body.into_bytes()
    };
    conn.respond(200, &headers, &body).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrd_and_jrd_carry_the_same_links() {
        let links = vec![(
            REL_WEBSOCKET,
            "wss://example.org:5281/xmpp-websocket".to_owned(),
        )];
        let x = xrd(&links);
        assert!(x.contains("<Link rel='urn:xmpp:alt-connections:websocket' href='wss://example.org:5281/xmpp-websocket'/>"));
        assert_eq!(
            jrd(&links),
            "{\"links\":[{\"rel\":\"urn:xmpp:alt-connections:websocket\",\"href\":\"wss://example.org:5281/xmpp-websocket\"}]}\n"
        );
    }
}
