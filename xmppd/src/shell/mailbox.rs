//! The core task's orders to one connection task: a queue under a mutex
//! and a wake-up, shared by exactly one sender and one receiver.
//!
//! Used instead of a tokio channel because every connection has one: an
//! unbounded tokio channel allocates about 1.3 KiB up front (a cache-padded
//! channel header and a first block of 32 slots), this about 100 bytes, and
//! its queue holds no allocation while empty.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::driver::ToConn;

#[derive(Debug, Default)]
struct Queue {
    orders: Vec<ToConn>,
    /// The sender is gone: nothing more will come.
    sender_gone: bool,
    /// The receiver is gone: sending is pointless.
    receiver_gone: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The core task's end. Not `Clone`: dropping it tells the receiver that
/// no more orders will come.
#[derive(Debug)]
pub(crate) struct Sender(Arc<Shared>);

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct Receiver(Arc<Shared>);

/// The receiver is gone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Gone;

/// A new, empty mailbox.
pub(crate) fn mailbox() -> (Sender, Receiver) {
    let shared = Arc::new(Shared::default());
    (Sender(Arc::clone(&shared)), Receiver(shared))
}

impl Sender {
    /// Queue `orders` after those not yet taken.
    pub(crate) fn send(&self, orders: Vec<ToConn>) -> Result<(), Gone> {
        {
            let mut q = self.0.queue();
            if q.receiver_gone {
                return Err(Gone);
            }
            if q.orders.is_empty() {
                q.orders = orders;
            } else {
                q.orders.extend(orders);
            }
        }
        self.0.wake.notify_one();
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.queue().sender_gone = true;
        self.0.wake.notify_one();
    }
}

impl Receiver {
    /// Every order queued so far, in order; waits while there is none.
    /// `None` once the sender is gone and everything was taken.
    /// Cancel-safe: nothing is taken until it is returned.
    pub(crate) async fn recv(&self) -> Option<Vec<ToConn>> {
        loop {
            {
                let mut q = self.0.queue();
                if !q.orders.is_empty() {
                    return Some(std::mem::take(&mut q.orders));
                }
                if q.sender_gone {
                    return None;
                }
            }
            // A notification sent after the check above is kept as a
            // permit, so it cannot be missed.
            self.0.wake.notified().await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut q = self.0.queue();
        q.receiver_gone = true;
        q.orders = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn orders_arrive_in_order_and_batches_sent_before_a_read_are_joined() {
        let (tx, rx) = mailbox();
        tx.send(vec![ToConn::Write(b"a".to_vec())]).unwrap();
        tx.send(vec![ToConn::Pause, ToConn::Resume]).unwrap();
        assert_eq!(
            rx.recv().await,
            Some(vec![
                ToConn::Write(b"a".to_vec()),
                ToConn::Pause,
                ToConn::Resume
            ])
        );
        tx.send(vec![ToConn::Close]).unwrap();
        assert_eq!(rx.recv().await, Some(vec![ToConn::Close]));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_send_and_sees_the_end_after_the_last_orders() {
        let (tx, rx) = mailbox();
        let waiter = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(batch) = rx.recv().await {
                got.extend(batch);
            }
            got
        });
        tokio::task::yield_now().await;
        tx.send(vec![ToConn::StartTls]).unwrap();
        tokio::task::yield_now().await;
        tx.send(vec![ToConn::Close]).unwrap();
        drop(tx);
        assert_eq!(waiter.await.unwrap(), vec![ToConn::StartTls, ToConn::Close]);
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_nothing() {
        let (tx, rx) = mailbox();
        // Start waiting, then give up (as `select!` does when a read wins).
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(5), rx.recv()).await;
        assert!(timed_out.is_err());
        tx.send(vec![ToConn::Pause]).unwrap();
        assert_eq!(rx.recv().await, Some(vec![ToConn::Pause]));
    }

    #[test]
    fn sending_to_a_dropped_receiver_fails_and_keeps_nothing() {
        let (tx, rx) = mailbox();
        drop(rx);
        assert_eq!(tx.send(vec![ToConn::Close]), Err(Gone));
        assert!(tx.0.queue().orders.is_empty());
    }
}
