//! A call between two registered users through the real `sipd`: INVITE
//! with proxy authentication, 180 and 200 back, ACK and BYE along the
//! Record-Route.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use daemon_common::{authorization, headers, reply, status, unique, Daemon, Site, Ua, DOMAIN};

/// The Request-URI's target in a Contact header value `<sip:...>;params`.
fn contact_uri(contact: &str) -> String {
    contact.split('<').nth(1).and_then(|r| r.split('>').next()).unwrap().to_owned()
}

fn call_between(alice: &mut Ua, bob: &mut Ua) {
    let call_id = unique("call");
    let bob_aor = format!("sip:bob@{DOMAIN}");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let ctype = "Content-Type: application/sdp\r\n";
    let invite = alice.request("INVITE", &bob_aor, &format!("<{bob_aor}>"), &call_id, ctype, sdp);
    alice.send(invite.as_bytes());
    let challenge = alice.recv();
    assert_eq!(status(&challenge), 407, "{challenge}");
    // ACK for the 407 (same branch as the INVITE: a non-2xx ACK is hop-by-hop).
    let via = headers(&invite, "Via")[0].clone();
    let cseq_no: u32 = headers(&invite, "CSeq")[0].split(' ').next().unwrap().parse().unwrap();
    let to_with_tag = headers(&challenge, "To")[0].clone();
    let ack = format!(
        "ACK {bob_aor} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@{DOMAIN}>;tag={}\r\nTo: {to_with_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq_no} ACK\r\nContent-Length: 0\r\n\r\n",
        alice.tag
    );
    alice.send(ack.as_bytes());
    let auth = authorization(&challenge, "Proxy-Authenticate", "alice", "wonderland", "INVITE", &bob_aor);
    let invite = alice.request("INVITE", &bob_aor, &format!("<{bob_aor}>"), &call_id, &format!("{ctype}Proxy-Authorization: {auth}\r\n"), sdp);
    alice.send(invite.as_bytes());

    // Bob receives the INVITE, record-routed, with the body intact.
    let incoming = bob.recv();
    assert!(incoming.starts_with("INVITE "), "{incoming}");
    assert!(incoming.ends_with(sdp), "{incoming}");
    let rr = headers(&incoming, "Record-Route");
    assert!(!rr.is_empty(), "no Record-Route:\n{incoming}");
    assert!(headers(&incoming, "Proxy-Authorization").is_empty(), "credentials must be removed:\n{incoming}");
    let bob_tag = unique("bt");
    bob.send(reply(&incoming, 180, "Ringing", &bob_tag, &format!("Contact: {}\r\n", bob.contact())).as_bytes());
    let ringing = alice.recv();
    assert_eq!(status(&ringing), 180, "{ringing}");
    bob.send(reply(&incoming, 200, "OK", &bob_tag, &format!("Contact: {}\r\n", bob.contact())).as_bytes());
    let ok = alice.recv();
    assert_eq!(status(&ok), 200, "{ok}");
    assert_eq!(headers(&ok, "Via").len(), 1, "the proxy's Via is removed:\n{ok}");

    // ACK and BYE follow the route set (RFC 3261 §12.1.2: reversed Record-Route).
    let mut route: Vec<String> = headers(&ok, "Record-Route");
    route.reverse();
    let routes: String = route.iter().map(|r| format!("Route: {r}\r\n")).collect();
    let bob_target = contact_uri(&headers(&ok, "Contact")[0]);
    let to = headers(&ok, "To")[0].clone();
    let ack = alice.request("ACK", &bob_target, &to, &call_id, &routes, "");
    alice.send(ack.as_bytes());
    let got = bob.recv();
    assert!(got.starts_with("ACK "), "{got}");

    // Bob hangs up: his route set is the Record-Route as received, in order.
    let bob_routes: String = rr.iter().map(|r| format!("Route: {r}\r\n")).collect();
    let alice_target = contact_uri(&headers(&incoming, "Contact")[0]);
    let bye = format!(
        "BYE {alice_target} SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch=z9hG4bK{b};rport\r\nMax-Forwards: 70\r\n\
         From: <{bob_aor}>;tag={bob_tag}\r\nTo: <sip:alice@{DOMAIN}>;tag={atag}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\n\
         {bob_routes}Content-Length: 0\r\n\r\n",
        t = bob.transport,
        local = bob.local,
        b = unique("bye"),
        atag = alice.tag,
    );
    bob.send(bye.as_bytes());
    let got = alice.recv();
    assert!(got.starts_with("BYE "), "{got}");
    alice.send(reply(&got, 200, "OK", "", "").as_bytes());
    let done = bob.recv();
    assert_eq!(status(&done), 200, "{done}");
    assert!(done.contains("CSeq: 1 BYE"), "{done}");
}

#[test]
fn call_between_two_registered_users_over_udp_follows_the_record_route() {
    let site = Site::new("");
    site.add_user("alice", "wonderland");
    site.add_user("bob", "builder");
    let d = Daemon::start(&site);
    let mut alice = Ua::udp("alice", d.addr("udp"), "127.0.0.1");
    let mut bob = Ua::udp("bob", d.addr("udp"), "127.0.0.1");
    assert_eq!(status(&alice.register("wonderland", 600)), 200);
    assert_eq!(status(&bob.register("builder", 600)), 200);
    call_between(&mut alice, &mut bob);
}

#[test]
fn call_from_udp_to_a_user_registered_over_tcp_reuses_his_connection() {
    let site = Site::new("");
    site.add_user("alice", "wonderland");
    site.add_user("bob", "builder");
    let d = Daemon::start(&site);
    let mut alice = Ua::udp("alice", d.addr("udp"), "127.0.0.1");
    let mut bob = Ua::tcp("bob", d.addr("tcp"));
    assert_eq!(status(&alice.register("wonderland", 600)), 200);
    assert_eq!(status(&bob.register("builder", 600)), 200);
    call_between(&mut alice, &mut bob);
}

#[test]
fn unknown_user_gets_404_and_user_without_registration_gets_480_or_404() {
    let site = Site::new("");
    site.add_user("alice", "wonderland");
    let d = Daemon::start(&site);
    let mut alice = Ua::udp("alice", d.addr("udp"), "127.0.0.1");
    let target = format!("sip:nobody@{DOMAIN}");
    let call_id = unique("msg");
    let m = alice.request("MESSAGE", &target, &format!("<{target}>"), &call_id, "Content-Type: text/plain\r\n", "hi");
    alice.send(m.as_bytes());
    let challenge = alice.recv();
    assert_eq!(status(&challenge), 407, "{challenge}");
    let auth = authorization(&challenge, "Proxy-Authenticate", "alice", "wonderland", "MESSAGE", &target);
    let m = alice.request("MESSAGE", &target, &format!("<{target}>"), &call_id, &format!("Content-Type: text/plain\r\nProxy-Authorization: {auth}\r\n"), "hi");
    alice.send(m.as_bytes());
    let resp = alice.recv();
    assert!([404, 480].contains(&status(&resp)), "{resp}");
}
