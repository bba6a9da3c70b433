//! Registrar behaviour (RFC 3261 §10.3, RFC 5626, digest auth on REGISTER).

use super::*;

fn alice(sh: &mut Shell) -> Ua {
    let _ = sh;
    Ua::new("alice", udp("192.0.2.10:5060"), "sip:alice@192.0.2.10:5060")
}

fn contact_line(params: &str) -> String {
    format!("Contact: <sip:alice@192.0.2.10:5060>{params}\n")
}

#[test]
fn register_with_digest_401_then_200_lists_the_contact() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    let r = ua.register(&contact_line(""));
    sh.recv(ua.flow, &r);
    let c = sh.one();
    assert_eq!(c.status(), Some(401));
    assert_eq!(c.to_addr(), Some("192.0.2.10:5060".parse().unwrap()));
    let offered = c
        .msg()
        .www_authenticates()
        .map(|ch| ch.unwrap().algorithm.map(<[u8]>::to_vec))
        .collect::<Vec<_>>();
    assert_eq!(
        offered,
        vec![Some(b"SHA-256".to_vec()), Some(b"MD5".to_vec())],
        "SHA-256 preferred, MD5 offered"
    );
    let ok = register(&mut sh, &mut ua, &contact_line(""));
    assert_eq!(
        ok.all(HeaderName::Contact),
        vec!["<sip:alice@192.0.2.10:5060>;expires=3600".to_owned()]
    );
    assert_eq!(sh.core.metrics().registrations, 1);
    let stored = sh.bindings(&Shell::aor("alice"));
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].via_flow, "public address, same port: no NAT");
}

#[test]
fn md5_digest_is_accepted_too() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(&contact_line("")));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "MD5");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!("{}Authorization: {auth}\n", contact_line(""))),
    );
    assert_eq!(sh.one().status(), Some(200));
}

#[test]
fn stale_nonce_is_rechallenged_with_stale_true_without_a_lookup() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(&contact_line("")));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    sh.advance(Duration::from_secs(301));
    sh.events.clear();
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!("{}Authorization: {auth}\n", contact_line(""))),
    );
    let c = sh.one();
    assert_eq!(c.status(), Some(401));
    assert!(c.msg().www_authenticates().all(|ch| ch.unwrap().stale));
    assert!(sh.events.is_empty(), "no database lookup for a stale nonce");
}

#[test]
fn replayed_nonce_count_is_refused() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(&contact_line("")));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    let line = format!("{}Authorization: {auth}\n", contact_line(""));
    sh.recv(ua.flow, &ua.register(&line));
    assert_eq!(sh.one().status(), Some(200));
    // The same credentials (same nonce, same nc) in a new request: a replay.
    sh.recv(ua.flow, &ua.register(&line));
    let c = sh.one();
    assert_eq!(c.status(), Some(401));
    assert!(c.msg().www_authenticates().all(|ch| ch.unwrap().stale));
    assert_eq!(sh.core.metrics().nonce_replays, 1);
    // A higher nc with the same nonce is fine.
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!("{}Authorization: {auth}\n", contact_line(""))),
    );
    assert_eq!(sh.one().status(), Some(200));
}

#[test]
fn wrong_password_is_rechallenged_and_reported() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    ua.password = "guess".into();
    sh.recv(ua.flow, &ua.register(&contact_line("")));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!("{}Authorization: {auth}\n", contact_line(""))),
    );
    assert_eq!(sh.one().status(), Some(401));
    assert!(sh
        .events
        .iter()
        .any(|e| matches!(e, Event::AuthFailed { user, .. } if user == "alice")));
    assert_eq!(sh.core.metrics().auth_failures, 1);
    assert!(sh.store.is_empty());
}

#[test]
fn unknown_user_is_rechallenged() {
    let mut sh = Shell::new();
    let mut ua = Ua::new("mallory", udp("192.0.2.66:5060"), "sip:mallory@192.0.2.66");
    sh.recv(ua.flow, &ua.register(""));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(ua.flow, &ua.register(&format!("Authorization: {auth}\n")));
    assert_eq!(sh.one().status(), Some(401));
}

#[test]
fn authentication_user_must_match_from_and_to_user() {
    let mut sh = Shell::new();
    let mut bob = Ua::new("bob", udp("192.0.2.20:5060"), "sip:bob@192.0.2.20");
    sh.recv(bob.flow, &bob.register(""));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = bob.credentials(&ch, "REGISTER", "sip:falcot.com");
    // Bob's valid credentials on a REGISTER for alice's AoR.
    let r = bob
        .register(&format!("Authorization: {auth}\n"))
        .replace("bob@falcot.com", "alice@falcot.com");
    sh.recv(bob.flow, &r);
    let c = sh.one();
    assert_eq!(c.status(), Some(403));
    assert!(sh.store.is_empty());
}

#[test]
fn digest_uri_must_name_the_request_uri() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(""));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:elsewhere.org");
    sh.recv(ua.flow, &ua.register(&format!("Authorization: {auth}\n")));
    assert_eq!(sh.one().status(), Some(403));
}

#[test]
fn refresh_keeps_one_binding_and_expires_zero_removes_it() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    register(&mut sh, &mut ua, &contact_line(""));
    sh.advance(Duration::from_secs(1000));
    let ok = register(&mut sh, &mut ua, &contact_line(";expires=600"));
    assert_eq!(
        ok.all(HeaderName::Contact),
        vec!["<sip:alice@192.0.2.10:5060>;expires=600".to_owned()]
    );
    let ok = register(&mut sh, &mut ua, &contact_line(";expires=0"));
    assert!(ok.all(HeaderName::Contact).is_empty());
    assert!(sh.bindings(&Shell::aor("alice")).is_empty());
}

#[test]
fn star_with_expires_zero_removes_every_binding() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    register(
        &mut sh,
        &mut ua,
        "Contact: <sip:alice@192.0.2.10:5060>, <sip:alice@192.0.2.10:5070>\n",
    );
    assert_eq!(sh.bindings(&Shell::aor("alice")).len(), 2);
    let ok = register(&mut sh, &mut ua, "Contact: *\nExpires: 0\n");
    assert!(ok.all(HeaderName::Contact).is_empty());
    assert!(sh.bindings(&Shell::aor("alice")).is_empty());
}

#[test]
fn star_without_expires_zero_is_a_bad_request() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register("Contact: *\n"));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!("Contact: *\nExpires: 60\nAuthorization: {auth}\n")),
    );
    assert_eq!(sh.one().status(), Some(400));
}

#[test]
fn too_brief_expiry_gets_423_with_min_expires() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(""));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!(
            "{}Expires: 30\nAuthorization: {auth}\n",
            contact_line("")
        )),
    );
    let c = sh.one();
    assert_eq!(c.status(), Some(423));
    assert_eq!(c.header(HeaderName::MinExpires).as_deref(), Some("60"));
}

#[test]
fn too_long_expiry_is_shortened_to_the_maximum() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    let ok = register(&mut sh, &mut ua, &contact_line(";expires=999999"));
    assert_eq!(
        ok.all(HeaderName::Contact),
        vec!["<sip:alice@192.0.2.10:5060>;expires=86400".to_owned()]
    );
}

#[test]
fn contacts_are_listed_by_q_value() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    let ok = register(
        &mut sh,
        &mut ua,
        "Contact: <sip:alice@192.0.2.10:5061>;q=0.1, <sip:alice@192.0.2.10:5062>;q=0.9\n",
    );
    assert_eq!(
        ok.all(HeaderName::Contact),
        vec![
            "<sip:alice@192.0.2.10:5062>;expires=3600;q=0.900".to_owned(),
            "<sip:alice@192.0.2.10:5061>;expires=3600;q=0.100".to_owned()
        ]
    );
}

#[test]
fn older_cseq_on_the_same_call_id_is_refused() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    register(&mut sh, &mut ua, &contact_line(""));
    ua.cseq = 0; // restart numbering with the same Call-ID
    sh.recv(ua.flow, &ua.register(&contact_line("")));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!("{}Authorization: {auth}\n", contact_line(""))),
    );
    assert_eq!(sh.one().status(), Some(500), "RFC 3261 §10.3 step 7");
}

#[test]
fn contact_limit_refuses_new_contacts_but_allows_refresh() {
    let mut cfg = config();
    cfg.registrar.max_contacts = 1;
    let mut sh = Shell::with(cfg);
    let mut ua = alice(&mut sh);
    register(&mut sh, &mut ua, &contact_line(""));
    register(&mut sh, &mut ua, &contact_line(""));
    sh.recv(ua.flow, &ua.register("Contact: <sip:alice@192.0.2.11>\n"));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        ua.flow,
        &ua.register(&format!(
            "Contact: <sip:alice@192.0.2.11>\nAuthorization: {auth}\n"
        )),
    );
    assert_eq!(sh.one().status(), Some(403));
}

#[test]
fn register_without_contact_lists_current_bindings() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    register(&mut sh, &mut ua, &contact_line(""));
    sh.advance(Duration::from_secs(100));
    let ok = register(&mut sh, &mut ua, "");
    assert_eq!(
        ok.all(HeaderName::Contact),
        vec!["<sip:alice@192.0.2.10:5060>;expires=3500".to_owned()]
    );
}

#[test]
fn register_for_a_foreign_domain_is_forbidden() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    let r = ua.register("").replace("falcot.com", "example.org");
    sh.recv(ua.flow, &r);
    assert_eq!(sh.one().status(), Some(403));
}

#[test]
fn outbound_registration_gets_require_outbound_and_flow_timer() {
    let mut sh = Shell::new();
    let mut ua = Ua::new(
        "alice",
        tcp("203.0.113.7:41000", 5),
        "sip:alice@10.0.0.7:5060;transport=tcp;ob",
    );
    let extra = "Supported: outbound, path\nContact: <sip:alice@10.0.0.7:5060;transport=tcp;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\n";
    let ok = register(&mut sh, &mut ua, extra);
    assert_eq!(ok.header(HeaderName::Require).as_deref(), Some("outbound"));
    assert_eq!(ok.named("Flow-Timer").as_deref(), Some("120"));
    let c = ok.all(HeaderName::Contact);
    assert_eq!(c.len(), 1);
    assert!(
        c[0].contains("+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1")
    );
    let b = &sh.bindings(&Shell::aor("alice"))[0];
    assert!(b.via_flow);
    assert_eq!(b.reg_id, Some(1));
    assert_eq!(b.flow.unwrap().connection, Some(ConnectionId(5)));
    // A new connection with the same instance and reg-id replaces the binding (RFC 5626 §6).
    ua.flow = tcp("203.0.113.7:41001", 6);
    register(&mut sh, &mut ua, extra);
    let all = sh.bindings(&Shell::aor("alice"));
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].flow.unwrap().connection, Some(ConnectionId(6)));
}

#[test]
fn registration_from_behind_nat_stores_the_source_flow() {
    let mut sh = Shell::new();
    let mut ua = Ua::new(
        "alice",
        udp("203.0.113.50:61000"),
        "sip:alice@192.168.1.20:5060",
    );
    ua.sent_by = "192.168.1.20:5060".into();
    register(&mut sh, &mut ua, "Contact: <sip:alice@192.168.1.20:5060>\n");
    let b = &sh.bindings(&Shell::aor("alice"))[0];
    assert!(b.via_flow);
    assert_eq!(
        b.flow.unwrap().remote,
        "203.0.113.50:61000".parse().unwrap()
    );
}

#[test]
fn database_silence_answers_500_after_the_lookup_timeout() {
    let mut sh = Shell::new();
    sh.auto_db = false;
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(""));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(ua.flow, &ua.register(&format!("Authorization: {auth}\n")));
    assert!(sh.take().is_empty(), "parked while the database works");
    assert!(
        matches!(sh.events.last(), Some(Event::NeedCredentials { user, realm, .. }) if user == "alice" && realm == "falcot.com")
    );
    sh.advance(Duration::from_secs(5));
    assert_eq!(sh.one().status(), Some(500));
    // The late answer is ignored.
    let e = sh.events.last().cloned().unwrap();
    sh.answer(&e);
    sh.pump();
    assert!(sh.take().is_empty());
}

#[test]
fn too_many_parked_requests_get_503() {
    let mut cfg = config();
    cfg.limits.max_pending_lookups = 1;
    let mut sh = Shell::with(cfg);
    sh.auto_db = false;
    let mut a = alice(&mut sh);
    let mut b = Ua::new("bob", udp("192.0.2.20:5060"), "sip:bob@192.0.2.20");
    for ua in [&mut a, &mut b] {
        sh.recv(ua.flow, &ua.register(""));
        let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
        let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
        sh.recv(ua.flow, &ua.register(&format!("Authorization: {auth}\n")));
    }
    let s = sh.one();
    assert_eq!(s.status(), Some(503));
    assert_eq!(s.to_addr(), Some("192.0.2.20:5060".parse().unwrap()));
}

#[test]
fn qop_less_md5_response_is_accepted_once_when_allowed() {
    for allowed in [true, false] {
        let mut cfg = config();
        cfg.auth.allow_no_qop = allowed;
        let mut sh = Shell::with(cfg);
        let mut ua = alice(&mut sh);
        sh.recv(ua.flow, &ua.register(""));
        let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "MD5");
        let nonce = String::from_utf8_lossy(DigestChallenge::parse(ch.as_bytes()).unwrap().nonce)
            .into_owned();
        let ha1 = DigestAlgorithm::Md5.hash_hex(&[b"alice", b"falcot.com", b"secret-a"]);
        let resp = expected_response(
            DigestAlgorithm::Md5,
            &ha1,
            b"REGISTER",
            b"sip:falcot.com",
            nonce.as_bytes(),
            None,
        );
        let line = format!(
            "Authorization: Digest username=\"alice\", realm=\"falcot.com\", nonce=\"{nonce}\", uri=\"sip:falcot.com\", response=\"{resp}\"\n"
        );
        sh.recv(ua.flow, &ua.register(&line));
        let first = sh.one();
        if !allowed {
            assert_eq!(first.status(), Some(401));
            assert!(first.msg().www_authenticates().all(|c| !c.unwrap().stale));
            continue;
        }
        assert_eq!(first.status(), Some(200), "RFC 2069 response accepted");
        sh.recv(ua.flow, &ua.register(&line));
        let again = sh.one();
        assert_eq!(again.status(), Some(401), "a qop-less nonce is single-use");
        assert!(again.msg().www_authenticates().all(|c| c.unwrap().stale));
    }
}

#[test]
fn domains_from_the_database_become_local() {
    let mut sh = Shell::new();
    let mut ua = alice(&mut sh);
    let r = ua.register("").replace("falcot.com", "pbx.org");
    sh.recv(ua.flow, &r);
    assert_eq!(sh.one().status(), Some(403));
    sh.core.handle_domains_changed(vec!["PBX.org".to_owned()]);
    let r = ua.register("").replace("falcot.com", "pbx.org");
    sh.recv(ua.flow, &r);
    let c = sh.one();
    assert_eq!(c.status(), Some(401));
    assert!(c
        .msg()
        .www_authenticates()
        .all(|ch| ch.unwrap().realm == b"pbx.org"));
    assert!(
        sh.core.is_local_domain("falcot.com"),
        "configured domains stay local"
    );
}

#[test]
fn an_answer_of_the_wrong_kind_does_not_strand_the_request() {
    let mut sh = Shell::new();
    sh.auto_db = false;
    sh.prefetch = false;
    let mut ua = alice(&mut sh);
    sh.recv(ua.flow, &ua.register(""));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = ua.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(ua.flow, &ua.register(&format!("Authorization: {auth}\n")));
    let Some(Event::NeedCredentials { id, .. }) = sh.events.last().cloned() else {
        panic!()
    };
    sh.core.handle_location(id, Ok(vec![]), sh.now);
    sh.core.handle_saved(id, Ok(vec![]), sh.now);
    sh.pump();
    assert!(sh.take().is_empty(), "ignored");
    let e = sh.events.last().cloned().unwrap();
    sh.answer(&e);
    sh.pump();
    assert!(
        matches!(sh.events.last(), Some(Event::NeedBindings { .. })),
        "the real answer still proceeds"
    );
}

/// A REGISTER's credential lookup brings the AoR's bindings along: no
/// separate location lookup, and the result is the same as without it.
#[test]
fn bindings_fetched_with_the_credentials_save_a_lookup() {
    for prefetch in [true, false] {
        let mut sh = Shell::new();
        sh.prefetch = prefetch;
        let mut ua = alice(&mut sh);
        let ok = register(&mut sh, &mut ua, &contact_line(""));
        assert_eq!(ok.all(HeaderName::Contact), vec!["<sip:alice@192.0.2.10:5060>;expires=3600".to_owned()]);
        let lookups = sh.events.iter().filter(|e| matches!(e, Event::NeedBindings { .. })).count();
        assert_eq!(lookups, usize::from(!prefetch), "prefetch {prefetch}: {:?}", sh.events);
        assert!(sh.events.iter().any(|e| matches!(e, Event::NeedCredentials { bindings_of: Some(a), .. } if a.user == "alice")));
        assert_eq!(sh.bindings(&Shell::aor("alice")).len(), 1);
    }
}
