//! Fallible allocation of the arrays whose length follows from the parameters, so that a
//! network too large for memory gives [`Error::AllocationFailed`] instead of aborting.
//!
//! NOTE: under memory overcommit (Linux) the allocator can accept a request that does not
//! fit, and the process is then killed when it touches the pages.

use std::alloc::Layout;

use crate::Error;

/// Largest size of one array in bytes, the limit Rust places on every allocation.
const MAX_ARRAY_BYTES: u64 = isize::MAX as u64;

/// An array to allocate, named for the error message.
pub(crate) struct ArrayRequest<'a> {
    /// Builds the description of the array, such as `"the synapses of projection 2"`.
    pub describe: &'a dyn Fn() -> String,
    /// Advice on making the array smaller, for the error message.
    pub fix: &'static str,
}

impl ArrayRequest<'_> {
    fn error<T>(&self, len: u128) -> Error {
        Error::AllocationFailed {
            array: (self.describe)(),
            len,
            entry_bytes: size_of::<T>(),
            max_bytes: MAX_ARRAY_BYTES,
            fix: self.fix,
        }
    }

    /// Returns `len` copies of `value`.
    ///
    /// # Errors
    /// [`Error::AllocationFailed`] when `len` entries do not fit in one allocation.
    pub(crate) fn filled<T: Clone>(&self, len: u128, value: T) -> Result<Vec<T>, Error> {
        let count = usize::try_from(len).map_err(|_| self.error::<T>(len))?;
        let mut values = Vec::new();
        values
            .try_reserve_exact(count)
            .map_err(|_| self.error::<T>(len))?;
        values.resize(count, value);
        Ok(values)
    }

    /// Reserves room for `additional` more entries in `values`.
    ///
    /// # Errors
    /// [`Error::AllocationFailed`] when the entries do not fit in one allocation.
    pub(crate) fn reserve<T>(&self, values: &mut Vec<T>, additional: u128) -> Result<(), Error> {
        let total = values.len() as u128 + additional;
        let count = usize::try_from(additional).map_err(|_| self.error::<T>(total))?;
        values
            .try_reserve(count)
            .map_err(|_| self.error::<T>(total))
    }

    /// Returns `len` zeros from fresh zero pages, like `vec![0.0f32; len]`, so that the first
    /// thread to write a page places it.
    ///
    /// # Errors
    /// [`Error::AllocationFailed`] when `len` entries do not fit in one allocation.
    pub(crate) fn zeroed_f32(&self, len: u128) -> Result<Vec<f32>, Error> {
        let count = usize::try_from(len).map_err(|_| self.error::<f32>(len))?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let layout = Layout::array::<f32>(count).map_err(|_| self.error::<f32>(len))?;
        // SAFETY: the layout has a non-zero size.
        let data = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f32>();
        if data.is_null() {
            return Err(self.error::<f32>(len));
        }
        // SAFETY: `data` comes from the global allocator with the layout of `count` `f32`
        // values, which is the layout of a `Vec<f32>` of capacity `count`, and all-zero bytes
        // are the valid value 0.0.
        Ok(unsafe { Vec::from_raw_parts(data, count, count) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ArrayRequest<'static> {
        ArrayRequest {
            describe: &|| "the test array".to_string(),
            fix: "ask for less",
        }
    }

    #[test]
    fn length_beyond_usize_is_an_error() {
        let len = u128::from(u64::MAX) * 4;
        let err = request().filled(len, 0u8).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("the test array"), "{message}");
        assert!(message.contains(&len.to_string()), "{message}");
        assert!(message.contains(&isize::MAX.to_string()), "{message}");
        assert!(message.contains("ask for less"), "{message}");
    }

    #[test]
    fn bytes_beyond_isize_max_are_an_error() {
        // usize::MAX / 2 entries of 8 bytes are about 4 * usize::MAX bytes, so no allocation is
        // tried.
        let len = (usize::MAX / 2) as u128;
        assert!(matches!(
            request().filled(len, 0.0f64),
            Err(Error::AllocationFailed { entry_bytes: 8, .. })
        ));
        assert!(matches!(
            request().zeroed_f32(len),
            Err(Error::AllocationFailed { entry_bytes: 4, .. })
        ));
        let mut values = vec![1u64];
        assert!(request().reserve(&mut values, len).is_err());
        assert_eq!(values, vec![1]);
    }

    #[test]
    fn small_requests_succeed() {
        assert_eq!(request().filled(3, 7u32).unwrap(), vec![7, 7, 7]);
        assert_eq!(request().zeroed_f32(4).unwrap(), vec![0.0; 4]);
        assert!(request().zeroed_f32(0).unwrap().is_empty());
        let mut values: Vec<u8> = Vec::new();
        request().reserve(&mut values, 10).unwrap();
        assert!(values.capacity() >= 10);
    }
}
