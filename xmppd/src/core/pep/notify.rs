//! Who receives PEP events (XEP-0163 §4.3): the owner's resources and the
//! resources of contacts subscribed to the owner's presence, each only if
//! its capabilities include `NODE+notify` (filtered notifications,
//! XEP-0060 §9.2); and the last item for a resource that became available.

use rtc_xmlstream::{ns, Element};

use crate::core::jid::Jid;
use crate::core::pending::Pending;
use crate::core::server::Server;
use crate::core::storage::{
    AccessModel, PepNodeConfig, StorageAnswer, StorageError, StorageRequest,
};
use crate::core::types::SessionId;

use super::NS_EVENT;

impl Server {
    /// Send an item (or a retraction) of `owner`'s node to everyone
    /// interested and allowed.
    pub(crate) fn pep_notify(
        &mut self,
        owner: &Jid,
        config: &PepNodeConfig,
        item: Option<(&str, &Element)>,
        retract: Option<&str>,
    ) {
        let mut items = Element::new("items", NS_EVENT).attr("node", config.node.as_str());
        if let Some((id, payload)) = item {
            items.push_child(
                Element::new("item", NS_EVENT)
                    .attr("id", id)
                    .child(payload.clone()),
            );
        }
        if let Some(id) = retract {
            items.push_child(Element::new("retract", NS_EVENT).attr("id", id));
        }
        let event = Element::new("event", NS_EVENT).child(items);
        for sid in self.pep_recipients(owner, config) {
            self.pep_send_event(sid, owner, event.clone());
        }
    }

    fn pep_send_event(&mut self, sid: SessionId, owner: &Jid, event: Element) {
        let Some(to) = self.sessions.get(&sid).map(|s| s.jid.to_string()) else {
            return;
        };
        let id = self.random_token(12);
        let msg = Element::new("message", ns::CLIENT)
            .attr("from", owner.to_string())
            .attr("to", to)
            .attr("type", "headline")
            .attr("id", id)
            .child(event);
        self.deliver(sid, msg);
    }

    fn pep_recipients(&self, owner: &Jid, config: &PepNodeConfig) -> Vec<SessionId> {
        let feature = format!("{}+notify", config.node);
        let mut readers = vec![owner.clone()];
        if config.access != AccessModel::Whitelist {
            if let Some(a) = self.account(owner) {
                readers.extend(
                    a.roster
                        .values()
                        .filter(|i| {
                            i.subscription.has_from() && self.is_local_domain(i.jid.domain())
                        })
                        .map(|i| i.jid.bare()),
                );
            }
        }
        readers
            .iter()
            .flat_map(|r| self.available_sessions(r))
            .filter(|sid| self.caps_has(*sid, &feature))
            .collect()
    }

    /// A resource's capabilities are known: send it the last item of each
    /// node it is interested in, of its own account and of the local
    /// contacts whose presence it receives (XEP-0163 §6.1.2).
    pub(crate) fn pep_send_last(&mut self, sid: SessionId) {
        let Some(reader) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let mut owners = vec![reader.clone()];
        if let Some(a) = self.account(&reader) {
            owners.extend(
                a.roster
                    .values()
                    .filter(|i| i.subscription.has_to() && self.is_local_domain(i.jid.domain()))
                    .map(|i| i.jid.bare()),
            );
        }
        let mut wanted = Vec::new();
        for owner in owners {
            let Some(a) = self.account(&owner) else {
                continue;
            };
            for n in a.pep_nodes.iter().filter(|n| n.persist) {
                let interested = self.caps_has(sid, &format!("{}+notify", n.node));
                if interested && self.pep_may_read(&owner, &n.node, &reader) {
                    wanted.push((owner.clone(), n.node.clone()));
                }
            }
        }
        for (owner, node) in wanted {
            let pending = Pending::PepLast {
                sid,
                owner: owner.clone(),
                node: node.clone(),
            };
            self.request(
                StorageRequest::PepItems {
                    user: owner,
                    node,
                    max: 1,
                },
                pending,
            );
        }
    }

    /// The last item of a node arrived for a resource.
    pub(crate) fn pep_last_loaded(
        &mut self,
        sid: SessionId,
        owner: Jid,
        node: String,
        result: Result<StorageAnswer, StorageError>,
    ) {
        let Ok(StorageAnswer::PepItems(items)) = result else {
            return;
        };
        let Some(last) = items.into_iter().last() else {
            return;
        };
        let event = Element::new("event", NS_EVENT).child(
            Element::new("items", NS_EVENT).attr("node", node).child(
                Element::new("item", NS_EVENT)
                    .attr("id", last.id)
                    .child(last.payload),
            ),
        );
        self.pep_send_event(sid, &owner, event);
    }
}
