//! SIP behaviours (domains, subscribers, routes), run against both
//! backends: every behaviour becomes `sqlite::<name>` and `mysql::<name>`.
//! Registrations are in `location.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod common;

use common::Fixture;
use rtc_userdb::{Entity, Error, RouteMatch, SipDigests, StaticRoute, UserDb};

on_both_backends!(
    domains_add_list_delete,
    stored_digests_match_independently_computed_hashes,
    subscriber_add_passwd_delete,
    subscribers_are_listed_per_domain,
    lookups_with_impossible_names_find_nothing,
    static_routes_add_list_delete,
    counts_track_contents,
);

async fn open(fx: &Fixture) -> UserDb {
    UserDb::open(&fx.config()).await.unwrap()
}

async fn domains_add_list_delete(fx: &Fixture) {
    let sip = open(fx).await.sip();
    assert!(sip.domains().await.unwrap().is_empty());
    sip.add_domain("sip.falcot.com").await.unwrap();
    sip.add_domain("example.org").await.unwrap();
    assert!(matches!(
        sip.add_domain("sip.falcot.com").await,
        Err(Error::AlreadyExists(Entity::SipDomain))
    ));
    assert_eq!(
        sip.domains().await.unwrap(),
        ["example.org", "sip.falcot.com"]
    );
    assert!(sip.is_local_domain("sip.falcot.com").await.unwrap());
    assert!(!sip.is_local_domain("SIP.falcot.com").await.unwrap());
    assert!(!sip.is_local_domain("").await.unwrap());
    assert!(!sip.is_local_domain("a\r\nb").await.unwrap());

    sip.delete_domain("example.org").await.unwrap();
    assert!(matches!(
        sip.delete_domain("example.org").await,
        Err(Error::NotFound(Entity::SipDomain))
    ));
    assert_eq!(sip.domains().await.unwrap(), ["sip.falcot.com"]);
    assert!(matches!(
        sip.add_domain("bad\ndomain").await,
        Err(Error::InvalidInput {
            field: "domain",
            ..
        })
    ));
}

async fn stored_digests_match_independently_computed_hashes(fx: &Fixture) {
    // printf '%s' 'roland:sip.falcot.com:secret_password' | md5sum
    // printf '%s' 'roland@sip.falcot.com:sip.falcot.com:secret_password' | md5sum
    // printf '%s' 'roland:sip.falcot.com:secret_password' | sha256sum
    let sip = open(fx).await.sip();
    sip.add_subscriber("sip.falcot.com", "roland", "secret_password")
        .await
        .unwrap();
    let d = sip
        .subscriber_digests("sip.falcot.com", "roland")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.ha1, "82b33dfdbf715983ddbda1177e6e0415");
    assert_eq!(d.ha1b, "7953625ca2f7036a7b058d0c117ddef6");
    assert_eq!(
        d.ha1_sha256,
        "cffe1a002aadc4d30748fb909f9507b36d1b366a1531340771ebb5b41c87c19b"
    );
    // What is on disk is the same lowercase hex, kamailio's format.
    let raw = fx
        .raw_strings("SELECT ha1 FROM sip_subscriber WHERE username = 'roland'")
        .await;
    assert_eq!(raw, ["82b33dfdbf715983ddbda1177e6e0415"]);
}

async fn subscriber_add_passwd_delete(fx: &Fixture) {
    let sip = open(fx).await.sip();
    sip.add_subscriber("d", "alice", "one").await.unwrap();
    assert!(matches!(
        sip.add_subscriber("d", "alice", "two").await,
        Err(Error::AlreadyExists(Entity::SipSubscriber))
    ));
    // The refused add did not change the password.
    assert_eq!(
        sip.subscriber_digests("d", "alice").await.unwrap(),
        Some(SipDigests::derive("alice", "d", "one"))
    );

    sip.set_password("d", "alice", "two").await.unwrap();
    assert_eq!(
        sip.subscriber_digests("d", "alice").await.unwrap(),
        Some(SipDigests::derive("alice", "d", "two"))
    );
    assert!(matches!(
        sip.set_password("d", "bob", "x").await,
        Err(Error::NotFound(Entity::SipSubscriber))
    ));
    assert!(matches!(
        sip.add_subscriber("d", "carol", "").await,
        Err(Error::InvalidInput {
            field: "password",
            ..
        })
    ));

    sip.delete_subscriber("d", "alice").await.unwrap();
    assert_eq!(sip.subscriber_digests("d", "alice").await.unwrap(), None);
    assert!(matches!(
        sip.delete_subscriber("d", "alice").await,
        Err(Error::NotFound(Entity::SipSubscriber))
    ));
    assert!(sip.subscribers(None).await.unwrap().is_empty());
}

async fn subscribers_are_listed_per_domain(fx: &Fixture) {
    let sip = open(fx).await.sip();
    for (domain, user) in [
        ("b.example", "zoe"),
        ("a.example", "roland"),
        ("b.example", "al"),
    ] {
        sip.add_subscriber(domain, user, "pw").await.unwrap();
    }
    let pairs = |v: Vec<rtc_userdb::SipSubscriber>| {
        v.into_iter()
            .map(|s| format!("{}@{}", s.username, s.domain))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(sip.subscribers(None).await.unwrap()),
        ["roland@a.example", "al@b.example", "zoe@b.example"]
    );
    assert_eq!(
        pairs(sip.subscribers(Some("b.example")).await.unwrap()),
        ["al@b.example", "zoe@b.example"]
    );
    // The same user name in another domain is another subscriber, with
    // digests over its own realm.
    sip.add_subscriber("b.example", "roland", "pw")
        .await
        .unwrap();
    let a = sip.subscriber_digests("a.example", "roland").await.unwrap();
    let b = sip.subscriber_digests("b.example", "roland").await.unwrap();
    assert_ne!(a, b);
    assert_eq!(b, Some(SipDigests::derive("roland", "b.example", "pw")));
}

async fn lookups_with_impossible_names_find_nothing(fx: &Fixture) {
    let sip = open(fx).await.sip();
    sip.add_subscriber("d", "x", "pw").await.unwrap();
    let long = "n".repeat(300);
    for (domain, user) in [
        ("d", ""),
        ("", "x"),
        ("d", long.as_str()),
        ("d", "x\0"),
        ("d", "x' OR '1'='1"),
        ("d%", "x"),
    ] {
        assert_eq!(
            sip.subscriber_digests(domain, user).await.unwrap(),
            None,
            "{domain:?}/{user:?}"
        );
    }
}

async fn static_routes_add_list_delete(fx: &Fixture) {
    let sip = open(fx).await.sip();
    let route = |priority, kind, pattern: &str, dest: &str| StaticRoute {
        priority,
        kind,
        pattern: pattern.into(),
        strip: 2,
        prefix: "+33".into(),
        destination: dest.into(),
        description: String::new(),
    };
    let pstn = route(
        10,
        RouteMatch::Prefix,
        "00",
        "sip:gw1.falcot.com;transport=tls",
    );
    let emergency = StaticRoute {
        description: "emergency numbers".into(),
        strip: 0,
        prefix: String::new(),
        ..route(
            1,
            RouteMatch::Regex,
            "^1(12|5|7|8)$",
            "sip:psap.example.net",
        )
    };
    let backup = route(10, RouteMatch::Prefix, "00", "sip:gw2.falcot.com");
    let a = sip.add_route(&pstn).await.unwrap();
    let b = sip.add_route(&emergency).await.unwrap();
    let c = sip.add_route(&backup).await.unwrap();
    assert!(a != b && b != c && a != c);

    let listed = sip.routes().await.unwrap();
    let ids: Vec<i64> = listed.iter().map(|r| r.id).collect();
    assert_eq!(ids, [b, a, c], "by priority, then creation order");
    assert_eq!(listed[0].route, emergency);
    assert_eq!(listed[1].route, pstn);

    sip.delete_route(a).await.unwrap();
    assert!(matches!(
        sip.delete_route(a).await,
        Err(Error::NotFound(Entity::SipRoute))
    ));
    assert_eq!(sip.routes().await.unwrap().len(), 2);
    let bad = StaticRoute {
        destination: "sip:x\r\nVia: evil".into(),
        ..pstn.clone()
    };
    assert!(matches!(
        sip.add_route(&bad).await,
        Err(Error::InvalidInput {
            field: "destination",
            ..
        })
    ));
    let empty = StaticRoute {
        pattern: String::new(),
        ..pstn
    };
    assert!(sip.add_route(&empty).await.is_err());
}

async fn counts_track_contents(fx: &Fixture) {
    let sip = open(fx).await.sip();
    assert_eq!(sip.counts(0).await.unwrap(), Default::default());
    sip.add_domain("d").await.unwrap();
    sip.add_subscriber("d", "a", "pw").await.unwrap();
    sip.add_subscriber("d", "b", "pw").await.unwrap();
    sip.add_route(&StaticRoute {
        priority: 0,
        kind: RouteMatch::Prefix,
        pattern: "0".into(),
        strip: 0,
        prefix: String::new(),
        destination: "sip:gw".into(),
        description: String::new(),
    })
    .await
    .unwrap();
    let c = sip.counts(0).await.unwrap();
    assert_eq!(
        (c.domains, c.subscribers, c.routes, c.bindings, c.aors),
        (1, 2, 1, 0, 0)
    );
}
