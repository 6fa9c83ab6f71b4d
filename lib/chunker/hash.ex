defmodule Chunker.Hash do
  @moduledoc """
  SHA-256 (SHA-NI where the CPU has it) and BLAKE3 digests, computed in Rust.

  Inputs up to 64 KiB are hashed in one call on a normal scheduler (well
  under 1 ms). Medium inputs (SHA-256 up to 2 MiB, BLAKE3 below 512 KiB) are
  hashed on the normal scheduler too, in 64 KiB calls that report their time
  to the VM: measured, that is no slower than one dirty call (BLAKE3
  128 KiB 1.22x faster, SHA-256 1 MiB 1.005x) and leaves the dirty
  schedulers free. Bigger inputs go to a dirty CPU
  scheduler, where BLAKE3 also uses several threads. Digests are raw 32-byte
  binaries; see `Chunker.Nix` for printing them as Nix does.
  """

  alias Chunker.{Native, Options}

  @typedoc "A digest algorithm."
  @type algo :: :sha256 | :blake3
  @typedoc "A streaming hasher (a NIF resource), freed when garbage collected."
  @opaque handle :: reference()

  # Measured: SHA-256 hashes 64 KiB in about 40 µs on the reference machine.
  @normal_max 65_536
  # Above these, one dirty call beats 64 KiB slices: SHA-256 is sequential
  # anyway and the hand-off is amortised; BLAKE3 goes multi-threaded from
  # 512 KiB (chunker_core's BLAKE3_PARALLEL_MIN).
  @sliced_max %{sha256: 2_097_152, blake3: 524_287}
  @algos [:sha256, :blake3]

  @doc """
  The digest of `data` (a binary or iodata).

      iex> Chunker.Hash.hash("abc") == :crypto.hash(:sha256, "abc")
      true
      iex> Base.encode16(Chunker.Hash.hash("", :blake3), case: :lower)
      "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
  """
  @spec hash(iodata(), algo()) :: <<_::256>>
  def hash(data, algo \\ :sha256)

  def hash(data, algo) when is_binary(data) and algo in @algos do
    size = byte_size(data)

    cond do
      size <= @normal_max -> Native.hash(data, algo)
      size <= @sliced_max[algo] -> hash_sliced(data, algo)
      true -> Native.hash_dirty(data, algo)
    end
  end

  def hash(data, algo) when is_list(data) and algo in @algos,
    do: hash(iodata!(data), algo)

  def hash(data, algo), do: bad_args(data, algo)

  @doc """
  Hashes each item of `items`, returning one `{:ok, digest}` or
  `{:error, :not_a_binary}` per item, in order. Big batches (over 64 KiB in
  total) run on a dirty scheduler and are spread over several threads.

      iex> Chunker.Hash.hash_batch(["a", "b", 1])
      [{:ok, :crypto.hash(:sha256, "a")}, {:ok, :crypto.hash(:sha256, "b")}, {:error, :not_a_binary}]
  """
  @spec hash_batch([term()], algo()) :: [{:ok, <<_::256>>} | {:error, :not_a_binary}]
  def hash_batch(items, algo \\ :sha256)

  def hash_batch(items, algo) when is_list(items) and algo in @algos do
    # rustler's list decoding panics on an improper list.
    unless Options.proper_list?(items),
      do: raise(ArgumentError, "expected a proper list, got: #{inspect(items, limit: 5)}")

    case Native.hash_batch(items, algo) do
      :dirty -> Native.hash_batch_dirty(items, algo)
      results -> results
    end
  end

  def hash_batch(items, algo), do: bad_args(items, algo)

  @doc """
  Opens a streaming hasher. Feed it with `update/2` (which returns the
  handle, so it composes with `Enum.reduce/3`) and end with `finish/1`.

      iex> h = Chunker.Hash.open(:sha256)
      iex> h = Enum.reduce(["a", "b", "c"], h, &Chunker.Hash.update(&2, &1))
      iex> Chunker.Hash.finish(h) == {:ok, :crypto.hash(:sha256, "abc")}
      true
      iex> Chunker.Hash.finish(h)
      {:error, :finished}
  """
  @spec open(algo()) :: handle()
  def open(algo \\ :sha256)
  def open(algo) when algo in @algos, do: Native.hash_open(algo)

  def open(algo),
    do: raise(ArgumentError, "expected :sha256 or :blake3, got: #{inspect(algo, limit: 5)}")

  @doc """
  Feeds `data` (a binary or iodata) and returns the handle. Raises
  `Chunker.Error` (reason `:finished`) on a finished handle.
  """
  @spec update(handle(), iodata()) :: handle()
  def update(handle, data) when is_reference(handle) and is_binary(data) do
    result =
      with_handle(handle, fn ->
        case Native.hash_update(handle, data) do
          :dirty -> Native.hash_update_dirty(handle, data)
          other -> other
        end
      end)

    case result do
      :ok -> handle
      :finished -> raise Chunker.Error, reason: :finished
    end
  end

  def update(handle, data) when is_reference(handle) and is_list(data),
    do: update(handle, iodata!(data))

  def update(handle, data) do
    raise ArgumentError,
          "expected a handle from Chunker.Hash.open/1 and iodata, got: " <>
            "#{inspect(handle, limit: 5)}, #{inspect(data, limit: 5)}"
  end

  @doc "Returns `{:ok, digest}`; a second call gives `{:error, :finished}`."
  @spec finish(handle()) :: {:ok, <<_::256>>} | {:error, :finished}
  def finish(handle) when is_reference(handle) do
    with_handle(handle, fn ->
      case Native.hash_finish(handle) do
        :dirty -> Native.hash_finish_dirty(handle)
        other -> other
      end
    end)
  end

  def finish(handle),
    do:
      raise(
        ArgumentError,
        "expected a handle from Chunker.Hash.open/1, got: #{inspect(handle, limit: 5)}"
      )

  @doc "Like `finish/1` but returns the digest or raises `Chunker.Error`."
  @spec finish!(handle()) :: <<_::256>>
  def finish!(handle) do
    case finish(handle) do
      {:ok, digest} -> digest
      {:error, reason} -> raise Chunker.Error, reason: reason
    end
  end

  @doc """
  The digest of an enumerable of binaries, e.g.
  `File.stream!(path, [], 1_048_576) |> Chunker.Hash.hash_stream()`.

      iex> ["ab", "c"] |> Stream.map(& &1) |> Chunker.Hash.hash_stream(:blake3) == Chunker.Hash.hash("abc", :blake3)
      true
  """
  @spec hash_stream(Enumerable.t(), algo()) :: <<_::256>>
  def hash_stream(enumerable, algo \\ :sha256) do
    if is_list(enumerable) and not Options.proper_list?(enumerable),
      do: raise(ArgumentError, "expected a proper list, got: #{inspect(enumerable, limit: 5)}")

    enumerable
    |> Enum.reduce(open(algo), &update(&2, &1))
    |> finish!()
  end

  # A private handle is never busy, so every slice runs on this scheduler.
  defp hash_sliced(data, algo) do
    handle = Native.hash_open(algo)
    :ok = update_slices(handle, data, 0, byte_size(data))
    {:ok, digest} = Native.hash_finish(handle)
    digest
  end

  defp update_slices(_handle, _data, offset, size) when offset >= size, do: :ok

  defp update_slices(handle, data, offset, size) do
    slice = binary_part(data, offset, min(@normal_max, size - offset))
    :ok = Native.hash_update(handle, slice)
    update_slices(handle, data, offset + @normal_max, size)
  end

  # Any other reference makes the NIF raise a bare badarg: say what was expected.
  defp with_handle(handle, fun) do
    fun.()
  rescue
    ArgumentError ->
      reraise ArgumentError,
              "expected a handle from Chunker.Hash.open/1, got: #{inspect(handle, limit: 5)}",
              __STACKTRACE__
  end

  defp iodata!(data) do
    IO.iodata_to_binary(data)
  rescue
    ArgumentError -> raise ArgumentError, "expected iodata, got: #{inspect(data, limit: 5)}"
  end

  defp bad_args(data, algo) when algo in @algos,
    do: raise(ArgumentError, "expected a binary or list, got: #{inspect(data, limit: 5)}")

  defp bad_args(_data, algo),
    do: raise(ArgumentError, "expected :sha256 or :blake3, got: #{inspect(algo, limit: 5)}")
end
