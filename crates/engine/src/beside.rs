//! Two pieces of work at once, one of them on a thread of its own: used after the input, when
//! the workers' cores are free. A system that refuses the thread (a container's or a user's
//! task limit) gets the same results, one piece after the other.

/// Runs `there` on a scoped thread called `name` while `here` runs on this one, and returns
/// both results. When the thread cannot be started, `there` runs here after `here`. A panic in
/// `there` goes on in the caller.
pub fn beside<A: Send, B>(name: &str, there: impl Fn() -> A + Sync, here: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new().name(name.into()).spawn_scoped(scope, &there);
        let b = here();
        let a = match spawned {
            Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Err(_) => there(),
        };
        (a, b)
    })
}

#[cfg(test)]
mod test {
    use super::beside;

    #[test]
    fn both_results_come_back_and_the_other_side_ran_on_its_thread() {
        let here = std::thread::current().id();
        let (a, b) = beside(
            "v6watch-test",
            || (std::thread::current().id(), std::thread::current().name().map(String::from)),
            || 7,
        );
        assert_ne!(a.0, here);
        assert_eq!(a.1.as_deref(), Some("v6watch-test"));
        assert_eq!(b, 7);
    }

    #[test]
    fn a_panic_on_the_thread_goes_on_in_the_caller() {
        let r = std::panic::catch_unwind(|| beside("v6watch-test", || -> u8 { panic!("there") }, || 1));
        assert!(r.is_err());
    }
}
