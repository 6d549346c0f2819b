//! Merging several capture files of one sensor into one time-ordered stream.

use super::{CaptureError, Frame, Reader};

/// Yields frames from several readers in timestamp order (ties go to the earlier file), so that
/// rotated captures of one sensor read as one continuous observation. Per-file errors are
/// returned to the caller, and that file's remaining frames are still read when it can resync.
pub struct Merger {
    readers: Vec<Reader>,
    /// Whether reader i holds a current frame not yet delivered.
    ready: Vec<bool>,
    /// Whether reader i is finished.
    done: Vec<bool>,
    last: Option<usize>,
}

impl Merger {
    /// Builds a merger; nothing is read until the first call.
    pub fn new(readers: Vec<Reader>) -> Self {
        let n = readers.len();
        Merger { readers, ready: vec![false; n], done: vec![false; n], last: None }
    }

    /// The readers, for their statistics.
    pub fn readers(&self) -> &[Reader] {
        &self.readers
    }

    /// The readers, to read one directly (with a single file there is nothing to merge).
    pub fn readers_mut(&mut self) -> &mut [Reader] {
        &mut self.readers
    }

    /// Next frame in time order, or an error from one file (call again to continue with the rest).
    pub fn next_frame(&mut self) -> Result<Option<(usize, Frame<'_>)>, CaptureError> {
        if let Some(i) = self.last.take() {
            self.ready[i] = false;
        }
        for i in 0..self.readers.len() {
            while !self.ready[i] && !self.done[i] {
                match self.readers[i].advance() {
                    Ok(true) => self.ready[i] = true,
                    Ok(false) => self.done[i] = true,
                    Err(e) => return Err(e),
                }
            }
        }
        let mut best: Option<usize> = None;
        for i in 0..self.readers.len() {
            if self.ready[i] && best.is_none_or(|b| self.readers[i].current_ts() < self.readers[b].current_ts()) {
                best = Some(i);
            }
        }
        match best {
            None => Ok(None),
            Some(i) => {
                self.last = Some(i);
                Ok(Some((i, self.readers[i].current())))
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::super::{testutil, Reader};
    use super::*;

    fn r(name: &str, recs: &[(u64, &[u8])]) -> Reader {
        Reader::from_read(name.into(), Box::new(std::io::Cursor::new(testutil::pcap(1, recs))), false).unwrap()
    }

    #[test]
    fn merges_in_time_order() {
        let a = r("a", &[(1, b"a1"), (5, b"a5")]);
        let b = r("b", &[(2, b"b2"), (3, b"b3"), (9, b"b9")]);
        let mut m = Merger::new(vec![a, b]);
        let mut got = vec![];
        while let Some((_, f)) = m.next_frame().unwrap() {
            got.push(String::from_utf8(f.data.to_vec()).unwrap());
        }
        assert_eq!(got, ["a1", "b2", "b3", "a5", "b9"]);
    }
}
