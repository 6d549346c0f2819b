//! The sink API: what receives a run's records, its lifecycle, and the combinators (`Tee`,
//! `&mut S`, `Box<S>`).

use super::summary::SensorSummary;
use crate::model::{AppEvent, EventKind, FlowRecord};

/// Receives the records of one run, as their flows end. Its life: for each sensor
/// [`FlowSink::begin`], its records ([`FlowSink::flow`], [`FlowSink::event`], with
/// [`FlowSink::flush`] whenever the input pauses), [`FlowSink::end`] with the sensor's
/// summary; after the last sensor the caller calls [`FlowSink::finish`] once. Several sinks
/// are fed by one pass through [`Tee`]; `&mut S` and `Box<S>` are sinks too.
///
/// Errors are `std::io::Error` for every sink: a sink whose storage has its own error type
/// wraps it (`io::Error::other`), and the first error stops the run.
pub trait FlowSink {
    /// The records of `sensor` start.
    fn begin(&mut self, _sensor: &str) -> std::io::Result<()> {
        Ok(())
    }
    /// The input of `summary.sensor` ended and all its records were given.
    fn end(&mut self, _summary: &SensorSummary) -> std::io::Result<()> {
        Ok(())
    }
    /// The run is over: write out what is buffered and close (a file sink moves its files into
    /// place here, so a failed run leaves none half-written). Default: [`FlowSink::flush`].
    fn finish(&mut self) -> std::io::Result<()> {
        self.flush()
    }
    /// One finished flow of `sensor`.
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()>;
    /// One application event of `sensor` (DNS transaction, HTTP request, TLS handshake).
    fn event(&mut self, _sensor: &str, _ev: &AppEvent) -> std::io::Result<()> {
        Ok(())
    }
    /// The input paused (a stream waits for frames): write out what is buffered, so records
    /// reach their reader as they happen. Default: nothing to do.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Whether [`FlowSink::event`] reads events of `kind`. Those it does not are dropped where
    /// they are made instead of being sent, ordered and handed over (DNS events are kept
    /// whatever the answer: their answers name flows). Default: every kind.
    fn wants(&self, _kind: EventKind) -> bool {
        true
    }
    /// A sink that only writes each record out may say how, so that records can be written
    /// on the threads that make them: the end of input makes most records at once, and one
    /// thread writing them all was the end's bottleneck. `None` (the default): every record
    /// comes through [`FlowSink::flow`].
    fn formatter(&self, _sensor: &str) -> Option<Box<dyn RecordFormat>> {
        None
    }
    /// Whole records made by [`FlowSink::formatter`], in output order.
    fn formatted(&mut self, _bytes: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("this sink has no formatter"))
    }
}

/// Writes a flow record of one sensor as bytes, on any thread.
pub trait RecordFormat: Send + Sync {
    /// Appends exactly what [`FlowSink::flow`] would write for `rec`.
    fn format(&self, rec: &FlowRecord, out: &mut Vec<u8>);
}

/// A sink that drops records (summary only).
pub struct NullSink;

impl FlowSink for NullSink {
    fn flow(&mut self, _: &str, _: &FlowRecord) -> std::io::Result<()> {
        Ok(())
    }
}

/// Forwards every call, so a sink can be lent (`&mut S`) or boxed and still be a sink.
macro_rules! forward_sink {
    () => {
        fn begin(&mut self, sensor: &str) -> std::io::Result<()> {
            (**self).begin(sensor)
        }
        fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
            (**self).end(summary)
        }
        fn finish(&mut self) -> std::io::Result<()> {
            (**self).finish()
        }
        fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
            (**self).flow(sensor, rec)
        }
        fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
            (**self).event(sensor, ev)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            (**self).flush()
        }
        fn wants(&self, kind: EventKind) -> bool {
            (**self).wants(kind)
        }
        fn formatter(&self, sensor: &str) -> Option<Box<dyn RecordFormat>> {
            (**self).formatter(sensor)
        }
        fn formatted(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            (**self).formatted(bytes)
        }
    };
}

impl<S: FlowSink + ?Sized> FlowSink for &mut S {
    forward_sink!();
}

impl<S: FlowSink + ?Sized> FlowSink for Box<S> {
    forward_sink!();
}

/// Two sinks fed by one pass (`Tee(analysis, export)`: a report and a dataset from one read of
/// the captures). Each call goes to the first, then the second; the first error stops the run.
/// Events go to both if either wants their kind (each sink still sees only what it asked
/// for, as the writers filter by kind). Records are formatted on the workers only when a
/// single sink asks for it, so a tee has no formatter.
pub struct Tee<A, B>(pub A, pub B);

impl<A: FlowSink, B: FlowSink> FlowSink for Tee<A, B> {
    fn begin(&mut self, sensor: &str) -> std::io::Result<()> {
        self.0.begin(sensor)?;
        self.1.begin(sensor)
    }
    fn end(&mut self, summary: &SensorSummary) -> std::io::Result<()> {
        self.0.end(summary)?;
        self.1.end(summary)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.finish()?;
        self.1.finish()
    }
    fn flow(&mut self, sensor: &str, rec: &FlowRecord) -> std::io::Result<()> {
        self.0.flow(sensor, rec)?;
        self.1.flow(sensor, rec)
    }
    fn event(&mut self, sensor: &str, ev: &AppEvent) -> std::io::Result<()> {
        let kind = ev.kind();
        if self.0.wants(kind) {
            self.0.event(sensor, ev)?;
        }
        if self.1.wants(kind) {
            self.1.event(sensor, ev)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
    fn wants(&self, kind: EventKind) -> bool {
        self.0.wants(kind) || self.1.wants(kind)
    }
}
