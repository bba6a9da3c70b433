//! Proxying calls (RFC 3261 §16): authentication of callers, forking,
//! response selection, CANCEL, ACK, in-dialog routing, relaying rules.

use super::*;

pub(super) fn alice() -> Ua {
    Ua::new("alice", udp("192.0.2.10:5060"), "sip:alice@192.0.2.10:5060")
}

/// Register alice and bob (bob twice: desk phone and softphone).
pub(super) fn registered() -> (Shell, Ua) {
    let mut sh = Shell::new();
    let mut a = alice();
    register(&mut sh, &mut a, "Contact: <sip:alice@192.0.2.10:5060>\n");
    for (i, ip) in ["192.0.2.20", "192.0.2.21"].into_iter().enumerate() {
        let mut b = Ua::new(
            "bob",
            udp(&format!("{ip}:5060")),
            &format!("sip:bob@{ip}:5060"),
        );
        b.call_id = format!("reg-bob-{i}@test");
        register(&mut sh, &mut b, &format!("Contact: <sip:bob@{ip}:5060>\n"));
    }
    (sh, a)
}

/// The ACK a UA sends for a non-2xx final response.
pub(super) fn ack_for(resp: &Sent, ruri: &str) -> String {
    let m = resp.msg();
    let s = |k| String::from_utf8_lossy(m.header(k).unwrap().value()).into_owned();
    let n = m.cseq().unwrap().number;
    format!(
        "ACK {ruri} SIP/2.0\nVia: {}\nMax-Forwards: 70\nFrom: {}\nTo: {}\nCall-ID: {}\nCSeq: {n} ACK\nContent-Length: 0\n\n",
        String::from_utf8_lossy(m.values(HeaderName::Via).next().unwrap()),
        s(HeaderName::From),
        s(HeaderName::To),
        s(HeaderName::CallId)
    )
}

/// An in-dialog request as a UA with this route set would send it.
#[allow(clippy::too_many_arguments)]
pub(super) fn in_dialog(
    method: &str,
    ruri: &str,
    routes: &[String],
    via: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
) -> String {
    let route = if routes.is_empty() {
        String::new()
    } else {
        format!("Route: {}\n", routes.join(", "))
    };
    format!(
        "{method} {ruri} SIP/2.0\n{via}\nMax-Forwards: 70\n{route}From: {from}\nTo: {to}\nCall-ID: {call_id}\nCSeq: {cseq} {method}\nContent-Length: 0\n\n"
    )
}

/// INVITE from `ua` to `to`: 407, ACK, INVITE with credentials. Returns what
/// the proxy sent after the authenticated INVITE (100 Trying removed).
pub(super) fn call(sh: &mut Shell, ua: &mut Ua, to: &str, call_id: &str) -> Vec<Sent> {
    sh.recv(ua.flow, &ua.invite(to, call_id, ""));
    let sent = sh.take();
    assert_eq!(
        sent.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(100), Some(407)]
    );
    let challenge = challenge_with(&sent[1], HeaderName::ProxyAuthenticate, "SHA-256");
    sh.recv(ua.flow, &ack_for(&sent[1], to));
    assert!(sh.take().is_empty(), "ACK for the 407 is absorbed");
    let auth = ua.credentials(&challenge, "INVITE", to);
    let inv = ua
        .invite(to, call_id, &format!("Proxy-Authorization: {auth}\n"))
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    sh.recv(ua.flow, &inv);
    sh.take_no_trying()
}

#[test]
fn call_between_registered_users_forks_to_every_contact_and_routes_the_dialog() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "call-1@a");
    let mut dests: Vec<_> = forks
        .iter()
        .map(|s| s.to_addr().unwrap().to_string())
        .collect();
    dests.sort();
    assert_eq!(dests, vec!["192.0.2.20:5060", "192.0.2.21:5060"]);
    for f in &forks {
        assert_eq!(f.method().as_deref(), Some("INVITE"));
        let target = format!("sip:bob@{}", f.to_addr().unwrap());
        assert_eq!(
            f.first_line(),
            format!("{target} SIP/2.0").replacen("sip:", "INVITE sip:", 1)
        );
        assert!(f.branch().starts_with("z9hG4bKsd"));
        assert_eq!(f.all(HeaderName::Via).len(), 2);
        assert!(f.all(HeaderName::Via)[1].contains("received=192.0.2.10"));
        assert!(f.all(HeaderName::Via)[1].contains("rport=5060"));
        let rr = f.all(HeaderName::RecordRoute);
        assert_eq!(rr.len(), 1);
        assert!(
            rr[0].starts_with("<sip:198.51.100.19:5060;lr;dlg="),
            "{}",
            rr[0]
        );
        assert_eq!(f.header(HeaderName::MaxForwards).as_deref(), Some("69"));
        assert!(
            f.header(HeaderName::ProxyAuthorization).is_none(),
            "our credentials are consumed"
        );
        assert_eq!(f.msg().body(), b"v=0");
    }
    let (desk, soft) = (&forks[0], &forks[1]);
    // The desk phone rings; the caller hears it.
    sh.recv(
        udp(&desk.to_addr().unwrap().to_string()),
        &answer(desk, 180, "Ringing", Some("d1"), ""),
    );
    let ringing = sh.one();
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(ringing.to_addr(), Some("192.0.2.10:5060".parse().unwrap()));
    assert_eq!(ringing.all(HeaderName::Via).len(), 1, "our Via removed");
    // The softphone answers: 200 goes up, the desk phone's branch is cancelled.
    let soft_addr = soft.to_addr().unwrap();
    sh.recv(
        udp(&soft_addr.to_string()),
        &answer(
            soft,
            200,
            "OK",
            Some("s1"),
            &format!("Contact: <sip:bob@{soft_addr}>\n"),
        ),
    );
    let out = sh.take();
    let ok = out.iter().find(|s| s.status() == Some(200)).unwrap();
    assert_eq!(ok.to_addr(), Some("192.0.2.10:5060".parse().unwrap()));
    let cancel = out
        .iter()
        .find(|s| s.method().as_deref() == Some("CANCEL"))
        .unwrap();
    assert_eq!(cancel.to_addr(), desk.to_addr());
    assert_eq!(
        cancel.branch(),
        desk.branch(),
        "CANCEL uses the branch it cancels"
    );
    // The desk phone confirms the CANCEL and ends its INVITE with 487; the proxy ACKs it, the caller sees nothing.
    let desk_flow = udp(&desk.to_addr().unwrap().to_string());
    sh.recv(desk_flow, &answer(cancel, 200, "OK", Some("d1"), ""));
    sh.recv(
        desk_flow,
        &answer(desk, 487, "Request Terminated", Some("d1"), ""),
    );
    let ack = sh.one();
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert_eq!(ack.to_addr(), desk.to_addr());
    // ACK and BYE follow the Record-Route to the softphone.
    let routes = ok.all(HeaderName::RecordRoute);
    let from = "<sip:alice@falcot.com>;tag=talice";
    let to = "<sip:bob@falcot.com>;tag=s1";
    let target = format!("sip:bob@{soft_addr}");
    sh.recv(
        a.flow,
        &in_dialog("ACK", &target, &routes, &a.via(), from, to, "call-1@a", 2),
    );
    let fwd = sh.one();
    assert_eq!(fwd.method().as_deref(), Some("ACK"));
    assert_eq!(fwd.to_addr(), Some(soft_addr));
    assert!(
        fwd.all(HeaderName::Route).is_empty(),
        "our Route is consumed"
    );
    sh.recv(
        a.flow,
        &in_dialog("BYE", &target, &routes, &a.via(), from, to, "call-1@a", 3),
    );
    let bye = sh.one();
    assert_eq!(bye.method().as_deref(), Some("BYE"));
    assert_eq!(bye.to_addr(), Some(soft_addr));
    sh.recv(
        udp(&soft_addr.to_string()),
        &answer(&bye, 200, "OK", None, ""),
    );
    let done = sh.one();
    assert_eq!(done.status(), Some(200));
    assert_eq!(done.to_addr(), Some("192.0.2.10:5060".parse().unwrap()));
}

#[test]
fn cancel_ends_the_call_attempt_with_487() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "call-2@a");
    // One branch rang, the other said nothing yet.
    sh.recv(
        udp(&forks[0].to_addr().unwrap().to_string()),
        &answer(&forks[0], 180, "Ringing", Some("x"), ""),
    );
    sh.take();
    let inv_via = forks[0].all(HeaderName::Via)[1].clone();
    let cancel = format!(
        "CANCEL sip:bob@falcot.com SIP/2.0\nVia: {inv_via}\nMax-Forwards: 70\nFrom: <sip:alice@falcot.com>;tag=talice\n\
To: <sip:bob@falcot.com>\nCall-ID: call-2@a\nCSeq: 2 CANCEL\nContent-Length: 0\n\n"
    );
    sh.recv(a.flow, &cancel);
    let out = sh.take();
    assert_eq!(
        out.iter()
            .find(|s| s.to_addr() == Some(a.flow.remote))
            .and_then(Sent::status),
        Some(200),
        "200 to the CANCEL"
    );
    let downstream: Vec<_> = out
        .iter()
        .filter(|s| s.method().as_deref() == Some("CANCEL"))
        .collect();
    assert_eq!(
        downstream.len(),
        1,
        "only the branch with a provisional can be cancelled now"
    );
    assert_eq!(downstream[0].to_addr(), forks[0].to_addr());
    sh.recv(
        udp(&forks[0].to_addr().unwrap().to_string()),
        &answer(&forks[0], 487, "Request Terminated", Some("x"), ""),
    );
    let out = sh.take();
    let final_up = out
        .iter()
        .find(|s| s.to_addr() == Some(a.flow.remote))
        .unwrap();
    assert_eq!(final_up.status(), Some(487));
    // The silent branch rings late: it is cancelled then.
    sh.recv(
        udp(&forks[1].to_addr().unwrap().to_string()),
        &answer(&forks[1], 180, "Ringing", Some("y"), ""),
    );
    let late = sh.one();
    assert_eq!(late.method().as_deref(), Some("CANCEL"));
    assert_eq!(late.to_addr(), forks[1].to_addr());
}

#[test]
fn callee_without_bindings_gets_404_and_with_expired_ones_480() {
    let (mut sh, mut a) = registered();
    let mut carol = Ua::new("carol", udp("192.0.2.30:5060"), "sip:carol@192.0.2.30");
    sh.add_user("carol", "secret-c");
    let forks = call(&mut sh, &mut a, "sip:carol@falcot.com", "c404@a");
    assert_eq!(
        forks.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(404)]
    );
    sh.recv(a.flow, &ack_for(&forks[0], "sip:carol@falcot.com"));
    register(
        &mut sh,
        &mut carol,
        "Contact: <sip:carol@192.0.2.30>;expires=60\n",
    );
    sh.advance(Duration::from_secs(61));
    let forks = call(&mut sh, &mut a, "sip:carol@falcot.com", "c480@a");
    assert_eq!(
        forks.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(480)]
    );
}

#[test]
fn request_uri_without_user_gets_484() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:falcot.com", "c484@a");
    assert_eq!(
        forks.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(484)]
    );
}

#[test]
fn foreign_to_foreign_is_relaying_forbidden() {
    let mut sh = Shell::new();
    sh.recv(
        udp("203.0.113.66:5060"),
        "INVITE sip:victim@example.net SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKr1\nMax-Forwards: 70\n\
From: <sip:x@example.org>;tag=1\nTo: <sip:victim@example.net>\nCall-ID: r@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
    );
    let s = sh.take_no_trying();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].status(), Some(403));
    assert_eq!(s[0].first_line(), "SIP/2.0 403 Relaying Forbidden");
}

#[test]
fn call_from_another_domain_to_a_local_user_needs_no_auth() {
    let (mut sh, _) = registered();
    sh.recv(
        udp("203.0.113.66:5060"),
        "INVITE sip:alice@falcot.com SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.66;branch=z9hG4bKf1\nMax-Forwards: 70\n\
From: <sip:carol@example.org>;tag=1\nTo: <sip:alice@falcot.com>\nCall-ID: f@x\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
    );
    let s = sh.take_no_trying();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].method().as_deref(), Some("INVITE"));
    assert_eq!(s[0].to_addr(), Some("192.0.2.10:5060".parse().unwrap()));
}

#[test]
fn local_user_may_call_out_after_authenticating() {
    let (mut sh, mut a) = registered();
    let out = call(&mut sh, &mut a, "sip:carol@example.org", "out@a");
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].0.destination,
        Destination::Resolve {
            host: "example.org".into(),
            port: None
        }
    );
    assert_eq!(out[0].first_line(), "INVITE sip:carol@example.org SIP/2.0");
}

#[test]
fn busy_callee_is_acked_hop_by_hop_and_caller_gets_486() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "busy@a");
    for (i, f) in forks.iter().enumerate() {
        sh.recv(
            udp(&f.to_addr().unwrap().to_string()),
            &answer(f, 486, "Busy Here", Some(&format!("b{i}")), ""),
        );
    }
    let out = sh.take();
    assert_eq!(
        out.iter()
            .filter(|s| s.method().as_deref() == Some("ACK"))
            .count(),
        2
    );
    let up: Vec<_> = out
        .iter()
        .filter(|s| s.to_addr() == Some(a.flow.remote))
        .collect();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].status(), Some(486));
    // The downstream retransmits its 486: ACKed again, nothing goes up.
    sh.recv(
        udp(&forks[0].to_addr().unwrap().to_string()),
        &answer(&forks[0], 486, "Busy Here", Some("b0"), ""),
    );
    let again = sh.one();
    assert_eq!(again.method().as_deref(), Some("ACK"));
}

#[test]
fn only_503_from_downstream_becomes_500_and_401_challenges_are_aggregated() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "s503@a");
    for f in &forks {
        sh.recv(
            udp(&f.to_addr().unwrap().to_string()),
            &answer(f, 503, "Service Unavailable", Some("z"), ""),
        );
    }
    let up: Vec<_> = sh
        .take()
        .into_iter()
        .filter(|s| s.to_addr() == Some(a.flow.remote))
        .collect();
    assert_eq!(
        up.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(500)]
    );
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "s401@a");
    for (i, f) in forks.iter().enumerate() {
        let ch = format!("WWW-Authenticate: Digest realm=\"bob-{i}.example\", nonce=\"n{i}\"\n");
        sh.recv(
            udp(&f.to_addr().unwrap().to_string()),
            &answer(f, 401, "Unauthorized", Some("u"), &ch),
        );
    }
    let up: Vec<_> = sh
        .take()
        .into_iter()
        .filter(|s| s.to_addr() == Some(a.flow.remote))
        .collect();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].status(), Some(401));
    let realms: Vec<_> = up[0]
        .msg()
        .www_authenticates()
        .map(|c| String::from_utf8_lossy(c.unwrap().realm).into_owned())
        .collect();
    assert_eq!(realms.len(), 2, "both branches' challenges: {realms:?}");
}

#[test]
fn timer_c_cancels_a_ringing_branch_that_never_answers() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "tc@a");
    for (i, f) in forks.iter().enumerate() {
        sh.recv(
            udp(&f.to_addr().unwrap().to_string()),
            &answer(f, 180, "Ringing", Some(&format!("r{i}")), ""),
        );
    }
    sh.take();
    sh.advance(Duration::from_secs(179));
    assert!(sh
        .take()
        .iter()
        .all(|s| s.method().as_deref() != Some("CANCEL")));
    sh.advance(Duration::from_secs(1));
    let cancels: Vec<_> = sh
        .take()
        .into_iter()
        .filter(|s| s.method().as_deref() == Some("CANCEL"))
        .collect();
    assert_eq!(cancels.len(), 2, "Timer C fired on both branches");
    for (i, f) in forks.iter().enumerate() {
        sh.recv(
            udp(&f.to_addr().unwrap().to_string()),
            &answer(f, 487, "Request Terminated", Some(&format!("r{i}")), ""),
        );
    }
    let up: Vec<_> = sh
        .take()
        .into_iter()
        .filter(|s| s.to_addr() == Some(a.flow.remote))
        .collect();
    assert_eq!(
        up.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(487)]
    );
}

#[test]
fn unanswered_branches_time_out_and_the_caller_gets_408() {
    let (mut sh, mut a) = registered();
    let forks = call(&mut sh, &mut a, "sip:bob@falcot.com", "t408@a");
    assert_eq!(forks.len(), 2);
    sh.advance(Duration::from_secs(32));
    let out = sh.take();
    let retransmits = out
        .iter()
        .filter(|s| s.method().as_deref() == Some("INVITE"))
        .count();
    assert_eq!(
        retransmits,
        2 * 6,
        "Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s on each branch"
    );
    let up: Vec<_> = out
        .iter()
        .filter(|s| s.to_addr() == Some(a.flow.remote))
        .collect();
    assert_eq!(
        up.iter().map(|s| s.status()).collect::<Vec<_>>(),
        vec![Some(408)]
    );
}
