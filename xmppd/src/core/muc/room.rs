//! A room's durable state (XEP-0045 §10, §15.5.3): configuration,
//! affiliations and subject, and its storage form; roles and occupants live
//! in `occupants.rs`.

use std::collections::{BTreeMap, VecDeque};

use rtc_xmlstream::Element;

use crate::core::jid::Jid;

/// Namespace of the stored room document (private to xmppd).
pub(crate) const NS_STORED: &str = "urn:xmppd:muc:room";

/// Long-lived affiliations (XEP-0045 §5.2), highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Affiliation {
    /// XEP-0045 §5.2 `owner`
    Owner,
    /// XEP-0045 §5.2 `admin`
    Admin,
    /// XEP-0045 §5.2 `member`
    Member,
    /// XEP-0045 §5.2 `none`
    None,
    /// XEP-0045 §5.2 `outcast` (banned)
    Outcast,
}

impl Affiliation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::None => "none",
            Self::Outcast => "outcast",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            "member" => Self::Member,
            "none" => Self::None,
            "outcast" => Self::Outcast,
            _ => return None,
        })
    }

    /// Owners and admins administer the room.
    pub(crate) fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// Session roles (XEP-0045 §5.1), highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Role {
    /// XEP-0045 §5.1 `moderator`
    Moderator,
    /// XEP-0045 §5.1 `participant`
    Participant,
    /// XEP-0045 §5.1 `visitor`
    Visitor,
    /// XEP-0045 §5.1 `none` (not in the room)
    None,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Moderator => "moderator",
            Self::Participant => "participant",
            Self::Visitor => "visitor",
            Self::None => "none",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "moderator" => Self::Moderator,
            "participant" => Self::Participant,
            "visitor" => Self::Visitor,
            "none" => Self::None,
            _ => return None,
        })
    }
}

/// The room configuration (XEP-0045 §15.5.3 `muc#roomconfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomConfig {
    /// `muc#roomconfig_roomname`
    pub(crate) name: String,
    /// `muc#roomconfig_roomdesc`
    pub(crate) description: String,
    /// `muc#roomconfig_persistentroom`
    pub(crate) persistent: bool,
    /// `muc#roomconfig_publicroom`
    pub(crate) public: bool,
    /// `muc#roomconfig_membersonly`
    pub(crate) members_only: bool,
    /// `muc#roomconfig_moderatedroom`
    pub(crate) moderated: bool,
    /// `muc#roomconfig_passwordprotectedroom` + `muc#roomconfig_roomsecret`
    pub(crate) password: Option<String>,
    /// `muc#roomconfig_changesubject`: participants may change the subject.
    pub(crate) change_subject: bool,
    /// `muc#roomconfig_allowinvites`: participants may invite.
    pub(crate) allow_invites: bool,
    /// `muc#roomconfig_whois`: `anyone` (non-anonymous) or `moderators`.
    pub(crate) whois_anyone: bool,
    /// `muc#roomconfig_maxusers` (capped by the service limit).
    pub(crate) max_occupants: usize,
    /// `muc#roomconfig_enablearchiving` (XEP-0313 for MUC).
    pub(crate) archiving: bool,
}

impl RoomConfig {
    pub(crate) fn new(persistent: bool, max_occupants: usize) -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            persistent,
            public: true,
            members_only: false,
            moderated: false,
            password: None,
            change_subject: false,
            allow_invites: false,
            whois_anyone: false,
            max_occupants,
            archiving: true,
        }
    }
}

/// One message in the room's log (history on join and the archive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logged {
    /// XEP-0359 stanza id assigned by the room (also the MAM result id).
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) stamp: u64,
    /// The sender's nickname.
    pub(crate) nick: String,
    /// The sender's real bare JID (for MAM `with` on non-anonymous rooms).
    pub(crate) real: Option<Jid>,
    /// The groupchat message as broadcast (`from` = room/nick, no `to`).
    pub(crate) message: Element,
}

/// The durable part of a room.
#[derive(Debug, Clone)]
pub(crate) struct RoomState {
    pub(crate) config: RoomConfig,
    /// Bare JID → affiliation (absent: `none`).
    pub(crate) affiliations: BTreeMap<Jid, Affiliation>,
    /// Subject text and the nickname that set it (XEP-0045 §8.1).
    pub(crate) subject: Option<(String, String)>,
    /// Most recent messages, oldest first, bounded by the service limits.
    pub(crate) log: VecDeque<Logged>,
}

impl RoomState {
    pub(crate) fn affiliation(&self, who: &Jid) -> Affiliation {
        self.affiliations
            .get(&who.bare())
            .copied()
            .unwrap_or(Affiliation::None)
    }

    pub(crate) fn set_affiliation(&mut self, who: Jid, a: Affiliation) {
        if a == Affiliation::None {
            self.affiliations.remove(&who);
        } else {
            self.affiliations.insert(who, a);
        }
    }

    pub(crate) fn owners(&self) -> usize {
        self.affiliations
            .values()
            .filter(|a| **a == Affiliation::Owner)
            .count()
    }

    /// The storage form: config, subject and affiliations (not the log,
    /// which is stored message by message).
    pub(crate) fn to_element(&self) -> Element {
        let c = &self.config;
        let flag = |b: bool| if b { "1" } else { "0" };
        let mut config = Element::new("config", NS_STORED)
            .attr("name", c.name.as_str())
            .attr("description", c.description.as_str())
            .attr("persistent", flag(c.persistent))
            .attr("public", flag(c.public))
            .attr("members-only", flag(c.members_only))
            .attr("moderated", flag(c.moderated))
            .attr("change-subject", flag(c.change_subject))
            .attr("allow-invites", flag(c.allow_invites))
            .attr("whois-anyone", flag(c.whois_anyone))
            .attr("archiving", flag(c.archiving))
            .attr("max-occupants", c.max_occupants.to_string());
        if let Some(p) = &c.password {
            config.set_attr("password", p.as_str());
        }
        let mut room = Element::new("room", NS_STORED).child(config);
        if let Some((text, nick)) = &self.subject {
            room.push_child(
                Element::new("subject", NS_STORED)
                    .attr("nick", nick.as_str())
                    .text(text),
            );
        }
        for (jid, a) in &self.affiliations {
            room.push_child(
                Element::new("affiliation", NS_STORED)
                    .attr("jid", jid.to_string())
                    .attr("affiliation", a.as_str()),
            );
        }
        room
    }

    /// Parse [`Self::to_element`]; `None` when it is not a stored room.
    pub(crate) fn from_element(e: &Element, max_occupants: usize) -> Option<Self> {
        if !e.is("room", NS_STORED) {
            return None;
        }
        let c = e.find_child("config", NS_STORED)?;
        let flag = |k: &str| c.attribute(k) == Some("1");
        let config = RoomConfig {
            name: c.attribute("name").unwrap_or_default().to_owned(),
            description: c.attribute("description").unwrap_or_default().to_owned(),
            persistent: flag("persistent"),
            public: flag("public"),
            members_only: flag("members-only"),
            moderated: flag("moderated"),
            password: c.attribute("password").map(str::to_owned),
            change_subject: flag("change-subject"),
            allow_invites: flag("allow-invites"),
            whois_anyone: flag("whois-anyone"),
            archiving: flag("archiving"),
            max_occupants: c
                .attribute("max-occupants")
                .and_then(|m| m.parse().ok())
                .unwrap_or(max_occupants)
                .min(max_occupants),
        };
        let subject = e.find_child("subject", NS_STORED).map(|s| {
            (
                s.text_content().into_owned(),
                s.attribute("nick").unwrap_or_default().to_owned(),
            )
        });
        let affiliations = e
            .find_children("affiliation", NS_STORED)
            .filter_map(|a| {
                let jid = Jid::parse(a.attribute("jid")?).ok()?;
                Some((jid, Affiliation::parse(a.attribute("affiliation")?)?))
            })
            .collect();
        Some(Self {
            config,
            affiliations,
            subject,
            log: VecDeque::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn room_state_round_trips_through_its_storage_form() {
        let mut s = RoomState {
            config: RoomConfig::new(true, 50),
            affiliations: BTreeMap::new(),
            subject: Some(("Plans <&>".into(), "romeo".into())),
            log: VecDeque::new(),
        };
        s.config.password = Some("pw".into());
        s.config.members_only = true;
        s.set_affiliation(Jid::parse("a@x").unwrap(), Affiliation::Owner);
        s.set_affiliation(Jid::parse("b@x").unwrap(), Affiliation::Outcast);
        let back = RoomState::from_element(&s.to_element(), 50).unwrap();
        assert_eq!(back.config, s.config);
        assert_eq!(back.affiliations, s.affiliations);
        assert_eq!(back.subject, s.subject);
        // The service limit caps a stored maximum.
        assert_eq!(
            RoomState::from_element(&s.to_element(), 10)
                .unwrap()
                .config
                .max_occupants,
            10
        );
    }
}
