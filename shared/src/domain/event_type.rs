//! What a delivery carries, in the words its `webhook-event-type` header and a webhook's
//! subscription (`event_types`) use.

use super::Direction;

super::wire_enum::wire_enum! {
    /// The kind of one delivery.
    pub enum EventType {
        /// A message the customer sent (the seed's payload).
        MessageReceivedNew = "message:received:new",
        /// A message the business sent (the seed's payload).
        MessageSentNew = "message:sent:new",
        /// One chat's messages of one window, in one POST (an aggregated webhook's delivery
        /// of the two message types above); not subscribed to by itself.
        MessageBundle = "message:bundle",
        /// A delivered message's text changed: the seed's message payload, new text.
        MessageUpdated = "message:updated",
        /// A conversation started.
        ChatCreated = "chat:created",
        /// A conversation was resolved or closed.
        ChatClosed = "chat:closed",
        /// The chat's responsible teammate changed.
        ChatAssigned = "chat:assigned",
    }
}

impl EventType {
    /// The types a webhook may subscribe to.
    pub const SUBSCRIBABLE: [EventType; 6] = [
        EventType::MessageReceivedNew,
        EventType::MessageSentNew,
        EventType::MessageUpdated,
        EventType::ChatCreated,
        EventType::ChatClosed,
        EventType::ChatAssigned,
    ];

    /// The message types: what a webhook that never chose receives.
    const MESSAGES: [EventType; 2] = [EventType::MessageReceivedNew, EventType::MessageSentNew];

    /// The type of a message delivered in `direction`.
    pub fn of_message(direction: Direction) -> Self {
        match direction {
            Direction::Received => EventType::MessageReceivedNew,
            Direction::Sent => EventType::MessageSentNew,
        }
    }
}

/// What a webhook receives: the types listed, every subscribable type when the list is
/// empty, and the message types when it never chose (webhooks saved before subscriptions).
pub fn subscribes(chosen: Option<&[EventType]>, event: EventType) -> bool {
    match (chosen, event) {
        // A bundle carries messages: it goes where either message type is wanted.
        (_, EventType::MessageBundle) => {
            subscribes(chosen, EventType::MessageReceivedNew)
                || subscribes(chosen, EventType::MessageSentNew)
        }
        (None, event) => EventType::MESSAGES.contains(&event),
        (Some([]), _) => true,
        (Some(list), event) => list.contains(&event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert_eq!(
            EventType::of_message(Direction::Sent),
            EventType::MessageSentNew
        );
    }

    #[test]
    fn a_subscription_takes_what_it_lists_or_everything() {
        let received = [EventType::MessageReceivedNew];
        let only = Some(&received[..]);
        assert!(subscribes(only, EventType::MessageReceivedNew));
        assert!(!subscribes(only, EventType::MessageSentNew));
        assert!(subscribes(only, EventType::MessageBundle));
        assert!(subscribes(Some(&[]), EventType::MessageSentNew));
        assert!(subscribes(None, EventType::MessageSentNew));
        assert!(
            !subscribes(None, EventType::ChatCreated),
            "as before subscriptions"
        );
        assert!(subscribes(Some(&[]), EventType::ChatAssigned));
    }
}
