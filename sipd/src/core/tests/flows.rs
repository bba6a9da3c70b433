//! NAT, RFC 5626 flows, flow tokens for WebRTC clients, and Record-Route
//! across transports.

use super::calls::{alice, call, in_dialog};
use super::*;

const WS_CONTACT: &str = "sip:k2l9x4b1@df7jal23ls0d.invalid;transport=ws";

/// Alice on UDP, bob in a browser on WSS (connection 77) with a `.invalid` Contact.
fn with_webrtc_bob() -> (Shell, Ua, Ua) {
    let mut sh = Shell::new();
    let mut a = alice();
    register(&mut sh, &mut a, "Contact: <sip:alice@192.0.2.10:5060>\n");
    let mut b = Ua::new("bob", wss("203.0.113.80:52000", 77), WS_CONTACT);
    b.sent_by = "df7jal23ls0d.invalid".into();
    register(&mut sh, &mut b, &format!("Contact: <{WS_CONTACT}>\n"));
    (sh, a, b)
}

#[test]
fn flow_token_routes_a_webrtc_client_with_an_invalid_contact() {
    let (mut sh, mut a, mut b) = with_webrtc_bob();
    let fwd = call(&mut sh, &mut a, "sip:bob@falcot.com", "ws@a");
    assert_eq!(fwd.len(), 1);
    let inv = &fwd[0];
    assert_eq!(inv.0.listener, WSS);
    assert_eq!(
        inv.0.destination,
        Destination::Connection(ConnectionId(77), "203.0.113.80:52000".parse().unwrap())
    );
    assert_eq!(inv.first_line(), format!("INVITE {WS_CONTACT} SIP/2.0"));
    assert!(inv.all(HeaderName::Via)[0].starts_with("SIP/2.0/WSS sip.falcot.com:8443;branch="));
    // Double Record-Route: WSS entry (with bob's flow token) on top, UDP entry below.
    let rr = inv.all(HeaderName::RecordRoute);
    assert_eq!(rr.len(), 2, "{rr:?}");
    assert!(
        rr[0].starts_with("<sip:") && rr[0].contains("@sip.falcot.com:8443;transport=wss;lr;dlg="),
        "{}",
        rr[0]
    );
    assert!(
        rr[1].starts_with("<sip:198.51.100.19:5060;lr;dlg="),
        "{}",
        rr[1]
    );
    // Bob answers; alice gets the 200 with both entries.
    sh.recv(
        b.flow,
        &answer(
            inv,
            200,
            "OK",
            Some("wb"),
            &format!("Contact: <{WS_CONTACT}>\n"),
        ),
    );
    let ok = sh.one();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.to_addr(), Some(a.flow.remote));
    // Alice's route set is the Record-Route reversed; her BYE reaches bob's WebSocket.
    let mut alice_routes = ok.all(HeaderName::RecordRoute);
    alice_routes.reverse();
    let from = "<sip:alice@falcot.com>;tag=talice";
    let to = "<sip:bob@falcot.com>;tag=wb";
    sh.recv(
        a.flow,
        &in_dialog(
            "BYE",
            WS_CONTACT,
            &alice_routes,
            &a.via(),
            from,
            to,
            "ws@a",
            3,
        ),
    );
    let bye = sh.one();
    assert_eq!(bye.method().as_deref(), Some("BYE"));
    assert_eq!(
        bye.0.destination,
        Destination::Connection(ConnectionId(77), "203.0.113.80:52000".parse().unwrap())
    );
    assert!(bye.all(HeaderName::Route).is_empty());
    // Bob's own in-dialog request (route set = Record-Route as is) goes to alice.
    let bob_routes = ok.all(HeaderName::RecordRoute);
    let via = b.via();
    sh.recv(
        b.flow,
        &in_dialog(
            "INFO",
            "sip:alice@192.0.2.10:5060",
            &bob_routes,
            &via,
            to,
            from,
            "ws@a",
            1,
        ),
    );
    let info = sh.one();
    assert_eq!(info.method().as_deref(), Some("INFO"));
    assert_eq!(
        info.0.destination,
        Destination::Addr("192.0.2.10:5060".parse().unwrap())
    );
    assert_eq!(info.0.listener, UDP);
}

#[test]
fn closed_websocket_flow_is_not_used() {
    let (mut sh, mut a, _) = with_webrtc_bob();
    sh.core.handle_flow_closed(ConnectionId(77), sh.now);
    sh.pump();
    assert!(sh.events.iter().any(|e| matches!(
        e,
        Event::FlowBindingsGone {
            connection: ConnectionId(77)
        }
    )));
    let out = call(&mut sh, &mut a, "sip:bob@falcot.com", "gone@a");
    assert_eq!(
        out.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(404)],
        "the shell dropped the binding"
    );
    // Even if the shell kept it, a dead flow is skipped: 480.
    let flow = wss("203.0.113.80:52000", 77);
    let stale = Binding {
        key: "k".into(),
        contact: WS_CONTACT.into(),
        expires: 300,
        q: 1000,
        call_id: "c".into(),
        cseq: 1,
        flow: Some(flow),
        via_flow: true,
        path: vec![],
        instance: None,
        reg_id: None,
        user_agent: None,
    };
    sh.store.insert(
        Shell::aor("bob"),
        vec![(stale, sh.now + Duration::from_secs(300))],
    );
    let out = call(&mut sh, &mut a, "sip:bob@falcot.com", "gone2@a");
    assert_eq!(
        out.iter().map(Sent::status).collect::<Vec<_>>(),
        vec![Some(480)]
    );
}

#[test]
fn forged_flow_token_cannot_steer_in_dialog_requests() {
    let (mut sh, mut a, _) = with_webrtc_bob();
    let fwd = call(&mut sh, &mut a, "sip:bob@falcot.com", "forge@a");
    let rr = fwd[0].all(HeaderName::RecordRoute);
    // Swap the token for garbage but keep a valid signature: the token is ignored,
    // so the request is routed by its Request-URI (an unroutable .invalid name).
    let tampered: Vec<String> = rr
        .iter()
        .rev()
        .map(|r| {
            if r.contains('@') {
                r.replacen("<sip:", "<sip:AAAA", 1)
            } else {
                r.clone()
            }
        })
        .collect();
    let from = "<sip:alice@falcot.com>;tag=talice";
    sh.recv(
        a.flow,
        &in_dialog(
            "BYE",
            WS_CONTACT,
            &tampered,
            &a.via(),
            from,
            "<sip:bob@falcot.com>;tag=x",
            "forge@a",
            3,
        ),
    );
    let out = sh.take();
    assert!(out.iter().all(|s| !matches!(
        s.0.destination,
        Destination::Connection(ConnectionId(77), _)
    )));
}

#[test]
fn outbound_registration_routes_calls_over_the_registered_connection() {
    let mut sh = Shell::new();
    let mut a = alice();
    register(&mut sh, &mut a, "Contact: <sip:alice@192.0.2.10:5060>\n");
    let mut b = Ua::new(
        "bob",
        tcp("203.0.113.9:40001", 9),
        "sip:bob@10.1.1.9:5060;transport=tcp;ob",
    );
    b.sent_by = "10.1.1.9:5060".into();
    let contact = "Contact: <sip:bob@10.1.1.9:5060;transport=tcp;ob>;+sip.instance=\"<urn:uuid:b0b>\";reg-id=1\n";
    register(&mut sh, &mut b, &format!("Supported: outbound\n{contact}"));
    let fwd = call(&mut sh, &mut a, "sip:bob@falcot.com", "ob@a");
    assert_eq!(fwd.len(), 1);
    assert_eq!(
        fwd[0].0.destination,
        Destination::Connection(ConnectionId(9), "203.0.113.9:40001".parse().unwrap())
    );
    assert_eq!(
        fwd[0].first_line(),
        "INVITE sip:bob@10.1.1.9:5060;transport=tcp;ob SIP/2.0"
    );
    assert_eq!(fwd[0].0.listener, TCP);
    // Transport changes from UDP to TCP: double Record-Route.
    let rr = fwd[0].all(HeaderName::RecordRoute);
    assert_eq!(rr.len(), 2);
    assert!(rr[0].contains(";transport=tcp;lr;dlg="));
    assert!(rr[1].starts_with("<sip:198.51.100.19:5060;lr;dlg="));
}

#[test]
fn nat_registered_udp_phone_is_called_at_its_public_address() {
    let mut sh = Shell::new();
    let mut a = alice();
    register(&mut sh, &mut a, "Contact: <sip:alice@192.0.2.10:5060>\n");
    let mut b = Ua::new(
        "bob",
        udp("203.0.113.50:61000"),
        "sip:bob@192.168.1.20:5060",
    );
    b.sent_by = "192.168.1.20:5060".into();
    register(&mut sh, &mut b, "Contact: <sip:bob@192.168.1.20:5060>\n");
    let fwd = call(&mut sh, &mut a, "sip:bob@falcot.com", "nat@a");
    assert_eq!(
        fwd[0].0.destination,
        Destination::Addr("203.0.113.50:61000".parse().unwrap())
    );
    assert_eq!(
        fwd[0].first_line(),
        "INVITE sip:bob@192.168.1.20:5060 SIP/2.0"
    );
    let rr = fwd[0].all(HeaderName::RecordRoute);
    assert_eq!(
        rr.len(),
        2,
        "a flow token for the NATed callee forces double record-routing"
    );
    assert!(rr[0].starts_with("<sip:") && rr[0].contains("@198.51.100.19:5060;lr"));
}

#[test]
fn replies_follow_rport_to_the_source_port() {
    let mut sh = Shell::new();
    let mut ua = Ua::new("alice", udp("203.0.113.50:61000"), "sip:alice@192.168.1.20");
    ua.sent_by = "192.168.1.20:5060".into();
    sh.recv(ua.flow, &ua.register(""));
    assert_eq!(
        sh.one().to_addr(),
        Some("203.0.113.50:61000".parse().unwrap())
    );
    // Without rport and without force_rport, the Via port is used (RFC 3261 §18.2.2).
    let mut cfg = config();
    cfg.force_rport = false;
    let mut sh = Shell::with(cfg);
    sh.recv(ua.flow, &ua.register("").replace(";rport", ""));
    assert_eq!(
        sh.one().to_addr(),
        Some("203.0.113.50:5060".parse().unwrap())
    );
}

#[test]
fn path_from_an_edge_proxy_becomes_the_route_set() {
    let mut sh = Shell::new();
    let mut a = alice();
    register(&mut sh, &mut a, "Contact: <sip:alice@192.0.2.10:5060>\n");
    let edge = udp("192.0.2.200:5060");
    let mut b = Ua::new("bob", edge, "sip:bob@10.9.9.9:5060");
    b.sent_by = "10.9.9.9:5060".into();
    let extra =
        "Supported: path\nPath: <sip:edge.falcot.net;lr>\nContact: <sip:bob@10.9.9.9:5060>\n";
    let via_edge =
        |n: u32| format!("Via: SIP/2.0/UDP 192.0.2.200:5060;branch=z9hG4bKedge{n}\nVia: ");
    sh.recv(edge, &b.register(extra).replacen("Via: ", &via_edge(1), 1));
    let ch = challenge_with(&sh.one(), HeaderName::WwwAuthenticate, "SHA-256");
    let auth = b.credentials(&ch, "REGISTER", "sip:falcot.com");
    sh.recv(
        edge,
        &b.register(&format!("{extra}Authorization: {auth}\n"))
            .replacen("Via: ", &via_edge(2), 1),
    );
    let ok = sh.one();
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.all(HeaderName::Path),
        vec!["<sip:edge.falcot.net;lr>".to_owned()],
        "Path echoed (RFC 3327 §5.3)"
    );
    let stored = &sh.bindings(&Shell::aor("bob"))[0];
    assert_eq!(stored.path, vec!["<sip:edge.falcot.net;lr>".to_owned()]);
    assert!(
        !stored.via_flow,
        "reached through the edge proxy, not the flow"
    );
    let fwd = call(&mut sh, &mut a, "sip:bob@falcot.com", "path@a");
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].first_line(), "INVITE sip:bob@10.9.9.9:5060 SIP/2.0");
    assert_eq!(
        fwd[0].0.destination,
        Destination::Resolve {
            host: "edge.falcot.net".into(),
            port: None
        }
    );
    assert_eq!(
        fwd[0].all(HeaderName::Route),
        vec!["<sip:edge.falcot.net;lr>".to_owned()]
    );
}
