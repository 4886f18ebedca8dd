//! A webhook's filter: which chats' events it receives, beside which types. Every
//! criterion given must hold (any value of its list); an empty filter takes everything.

use super::{Account, Chat, ChatId, Direction};
use serde::{Deserialize, Serialize};

/// Group chats or direct ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// Chats with several contacts.
    Group,
    /// One-to-one chats.
    Direct,
}

/// Which events a webhook takes, by chat, account, direction and chat kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryFilter {
    /// Only these chats (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat_ids: Vec<ChatId>,
    /// Only these channel accounts, by phone (a WhatsApp account) or name (a Chatwoot
    /// inbox: its name, or `Inbox <id>` in chat events) (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// Only messages in these directions (chat events have none and pass).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directions: Vec<Direction>,
    /// Only group chats, or only direct ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chats: Option<ChatKind>,
}

/// Chat ids a filter may list.
pub const MAX_FILTER_CHATS: usize = 100;
/// Accounts a filter may list.
pub const MAX_FILTER_ACCOUNTS: usize = 20;

impl DeliveryFilter {
    /// True when it lists nothing (takes everything).
    pub fn is_empty(&self) -> bool {
        *self == DeliveryFilter::default()
    }

    /// Why an event of `chat` on `account` (a message in `direction`) is not taken, or
    /// `None` when it is.
    pub fn refuses(
        &self,
        account: &Account,
        chat: &Chat,
        direction: Option<Direction>,
    ) -> Option<String> {
        if !self.chat_ids.is_empty() && !self.chat_ids.contains(&chat.chat_id) {
            return Some(format!(
                "the webhook's filter does not take chat {}",
                chat.chat_id
            ));
        }
        let named = |a: &String| {
            (!account.phone.is_empty() && *a == account.phone) || *a == account.full_name
        };
        if !self.accounts.is_empty() && !self.accounts.iter().any(named) {
            return Some(format!(
                "the webhook's filter does not take account {}",
                if account.phone.is_empty() {
                    &account.full_name
                } else {
                    &account.phone
                }
            ));
        }
        if let Some(direction) =
            direction.filter(|d| !self.directions.is_empty() && !self.directions.contains(d))
        {
            let word = match direction {
                Direction::Sent => "sent",
                Direction::Received => "received",
            };
            return Some(format!(
                "the webhook's filter does not take {word} messages"
            ));
        }
        let kind = if chat.is_group {
            ChatKind::Group
        } else {
            ChatKind::Direct
        };
        match self.chats {
            Some(wanted) if wanted != kind => Some(format!(
                "the webhook's filter takes only {} chats",
                if wanted == ChatKind::Group {
                    "group"
                } else {
                    "direct"
                }
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(phone: &str, inbox: &str, chat: &str, group: bool) -> (Account, Chat) {
        let account = Account {
            full_name: inbox.into(),
            email: String::new(),
            phone: phone.into(),
        };
        let chat = Chat {
            full_name: "c".into(),
            responsible_name: String::new(),
            responsible_email: String::new(),
            chat_url: String::new(),
            chat_id: ChatId::new_unchecked(chat),
            is_new_chat: false,
            is_group: group,
            phone: String::new(),
        };
        (account, chat)
    }

    #[test]
    fn every_criterion_given_must_hold() {
        let filter = DeliveryFilter {
            chat_ids: vec![ChatId::new_unchecked("c1"), ChatId::new_unchecked("c2")],
            accounts: vec!["+972500000000".into(), "Support".into()],
            directions: vec![Direction::Received],
            chats: Some(ChatKind::Direct),
        };
        let (wa, c1) = context("+972500000000", "Amnon", "c1", false);
        assert_eq!(filter.refuses(&wa, &c1, Some(Direction::Received)), None);
        assert_eq!(
            filter.refuses(&wa, &c1, None),
            None,
            "chat events have no direction"
        );
        let sent = filter.refuses(&wa, &c1, Some(Direction::Sent)).unwrap();
        assert_eq!(sent, "the webhook's filter does not take sent messages");
        let (inbox, c2) = context("", "Support", "c2", false);
        assert_eq!(
            filter.refuses(&inbox, &c2, None),
            None,
            "an inbox by its name"
        );
        let (other, _) = context("+1555", "Sales", "c1", false);
        assert!(filter
            .refuses(&other, &c1, None)
            .unwrap()
            .contains("account +1555"));
        let (_, c3) = context("", "", "c3", false);
        assert!(filter.refuses(&wa, &c3, None).unwrap().contains("chat c3"));
        let (_, group) = context("", "", "c1", true);
        assert!(filter
            .refuses(&wa, &group, None)
            .unwrap()
            .contains("only direct"));
        assert_eq!(
            DeliveryFilter::default().refuses(&other, &group, Some(Direction::Sent)),
            None
        );
        assert!(DeliveryFilter::default().is_empty());
    }
}
