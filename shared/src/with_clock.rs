//! The `with_clock` setter of the use-case types that read the time from a clock they hold: the
//! system clock unless told otherwise, another one in tests (CONTRIBUTING: time comes from an
//! injected [`Clock`](crate::clock::Clock)).

/// Gives a type with a field `clock: SharedClock` the builder method
/// `with_clock(self, clock: SharedClock) -> Self`, e.g. `clinic_shared::impl_with_clock!(FilesApp<S, O>);`
/// after the type's `new` set the system clock.
#[macro_export]
macro_rules! impl_with_clock {
    ($type:ident $(< $($param:ident),+ >)?) => {
        impl $(< $($param),+ >)? $type $(< $($param),+ >)? {
            /// The same use cases on another clock (tests stand at a chosen moment).
            #[must_use]
            pub fn with_clock(mut self, clock: $crate::clock::SharedClock) -> Self {
                self.clock = clock;
                self
            }
        }
    };
}
