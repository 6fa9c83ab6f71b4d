defmodule Chunker.Compress do
  @moduledoc """
  Compression for chunk stores and NAR files: zstd, LZ4 (frame format), xz
  (LZMA2), bzip2 and `:none`, with one hard decompression limit for every
  format.

  | algorithm | levels | default | output |
  | --- | --- | --- | --- |
  | `:zstd` | 1..22 | 3 | zstd frame with checksum (`zstd` CLI compatible) |
  | `:lz4` | 1..12 | 1 | LZ4 frame, independent blocks, no content checksum (`lz4` CLI compatible) |
  | `:xz` | 0..9 | 6 | xz stream, LZMA2, CRC64 (`xz` CLI compatible) |
  | `:bzip2` | 1..9 | 9 | bzip2 stream (`bzip2` CLI compatible) |
  | `:none` | - | - | the bytes as they are |

  ## The decompression limit

  Decompressed data may come from an attacker. Every decompression (one-shot,
  streaming, batch, with a dictionary) stops at `:max_size` bytes: an output
  of exactly `max_size` bytes succeeds, one byte more is
  `{:error, {:size_exceeded, max_size}}`, detected after producing at most
  `max_size + 1` bytes (never by decompressing everything first). The
  default is 1 GiB, set application-wide with

      config :chunker, :max_decompressed_size, 256 * 1024 * 1024

  Truncated or corrupt input is `{:error, {:corrupt, algo}}`, never a partial
  result; trailing bytes after the last frame are corrupt too. Concatenated
  frames/streams decode as their concatenation (like the CLIs).

  LZ4 frames are written without the content checksum the `lz4` CLI adds:
  XXH32 is slower than LZ4 decoding itself (it made decompression 2.7x
  slower), and a binary cache checks chunks and NARs against their hashes
  anyway. A mutated checksum-less LZ4 frame can therefore decode to other
  bytes; frames that carry a checksum (the CLI's) are verified, and zstd,
  xz and bzip2 output always carries one.

  Memory stays bounded by the limit: output grows as it is produced; codec
  windows are allocated by the C libraries but only touched as output is
  produced (zstd accepts windows up to `max(limit, 128 MiB)`, xz a decoder
  memory of `max(limit + 16 MiB, 96 MiB)`; larger needs are
  `{:size_exceeded, limit}`).

  All work runs on dirty CPU schedulers; encoder and decoder contexts are
  reused per scheduler thread, so small chunks do not pay context setup.
  """

  alias Chunker.Native

  @typedoc "A compression format."
  @type algo :: :zstd | :lz4 | :xz | :bzip2 | :none
  @type reason ::
          {:size_exceeded, non_neg_integer()}
          | {:corrupt, algo()}
          | :unknown_format
          | :finished
          | {:invalid_options, {atom(), String.t()}}
          | {:dictionary, String.t()}
          | {:library, {algo(), String.t()}}

  @typedoc "A streaming encoder or decoder (a NIF resource, freed when garbage collected)."
  @opaque handle :: reference()

  @algos [:zstd, :lz4, :xz, :bzip2, :none]
  @levels %{zstd: 3, lz4: 1, xz: 6, bzip2: 9, none: 0}
  @default_max 1_073_741_824
  @max_u64 18_446_744_073_709_551_615

  defmodule Dictionary do
    @moduledoc """
    A prepared zstd dictionary (see `Chunker.Compress.load_dictionary/2`):
    `id` is the dictionary id written in frames, `level` the compression
    level it was prepared for, `size` the raw size in bytes. Shared between
    processes by reference.
    """
    @enforce_keys [:ref, :id, :level, :size]
    defstruct [:ref, :id, :level, :size]

    @type t :: %__MODULE__{
            ref: reference(),
            id: non_neg_integer(),
            level: 1..22,
            size: non_neg_integer()
          }
  end

  @doc "The supported algorithms."
  @spec algorithms() :: [algo()]
  def algorithms, do: @algos

  @doc """
  The decompression limit used when `:max_size` is not given: the
  `:max_decompressed_size` application setting, 1 GiB by default.

      iex> Chunker.Compress.default_max_size()
      1073741824
  """
  @spec default_max_size() :: non_neg_integer()
  def default_max_size, do: Application.get_env(:chunker, :max_decompressed_size, @default_max)

  @doc """
  Compresses `data`.

  Options: `:level` (see the module doc); for `:zstd`, `:dictionary` (a
  `Chunker.Compress.Dictionary`, whose level is used).

  With `algo` `:auto`, the data is stored as is when compressing does not
  save enough (already-compressed data); the choice is in the result as
  `{:ok, {chosen_algo, binary}}`, where `binary` is `data` itself for
  `:none`. Options: `:algo` (default `:zstd`), `:level`, `:min_savings`
  (fraction of the input that must be saved, default 0.05). Inputs over
  64 KiB are first estimated cheaply (zstd level 1 on three 8 KiB samples).

      iex> {:ok, packed} = Chunker.Compress.compress(String.duplicate("nix", 1000), :zstd)
      iex> byte_size(packed) < 100
      true
      iex> Chunker.Compress.decompress(packed, :zstd)
      {:ok, String.duplicate("nix", 1000)}

      iex> {:ok, {:none, data}} = Chunker.Compress.compress(:crypto.strong_rand_bytes(1000), :auto)
      iex> byte_size(data)
      1000

      iex> Chunker.Compress.compress("x", :zstd, level: 23)
      {:error, {:invalid_options, {:level, "level 23 is not in 1..22 for zstd"}}}
  """
  @spec compress(binary(), algo() | :auto, keyword()) ::
          {:ok, binary()} | {:ok, {algo(), binary()}} | {:error, reason()}
  def compress(data, algo, opts \\ [])

  def compress(data, :auto, opts) when is_binary(data) do
    with {:ok, opts} <- options(opts, [:algo, :level, :min_savings]),
         {:ok, algo} <- target_algo(Keyword.get(opts, :algo, :zstd)),
         {:ok, level} <- level(algo, opts),
         {:ok, min} <- min_savings(Keyword.get(opts, :min_savings, 0.05)) do
      Native.compress_auto(data, algo, level, min)
    end
  end

  def compress(data, algo, opts) when is_binary(data) and algo in @algos do
    with {:ok, opts} <- options(opts, [:level, :dictionary]) do
      case Keyword.fetch(opts, :dictionary) do
        {:ok, dict} ->
          with {:ok, ref} <- dictionary(dict, algo), do: Native.zstd_dict_compress(ref, data)

        :error ->
          with {:ok, level} <- level(algo, opts), do: Native.compress(data, algo, level)
      end
    end
  end

  def compress(data, algo, _opts), do: bad_args(data, algo)

  @doc "Like `compress/3` but returns the result or raises `Chunker.Error`."
  @spec compress!(binary(), algo() | :auto, keyword()) :: binary() | {algo(), binary()}
  def compress!(data, algo, opts \\ []), do: bang(compress(data, algo, opts))

  @doc """
  Decompresses `data`; `:auto` detects the format from its magic bytes
  (`{:error, :unknown_format}` otherwise).

  Options: `:max_size` (the limit, see the module doc); for `:zstd`,
  `:dictionary`.

      iex> {:ok, packed} = Chunker.Compress.compress("hello", :xz)
      iex> Chunker.Compress.decompress(packed, :auto)
      {:ok, "hello"}
      iex> Chunker.Compress.decompress(packed, :xz, max_size: 5)
      {:ok, "hello"}
      iex> Chunker.Compress.decompress(packed, :xz, max_size: 4)
      {:error, {:size_exceeded, 4}}
      iex> Chunker.Compress.decompress(binary_part(packed, 0, 20), :xz)
      {:error, {:corrupt, :xz}}
      iex> Chunker.Compress.decompress("hello", :auto)
      {:error, :unknown_format}
  """
  @spec decompress(binary(), algo() | :auto, keyword()) :: {:ok, binary()} | {:error, reason()}
  def decompress(data, format, opts \\ [])

  def decompress(data, format, opts)
      when is_binary(data) and (format in @algos or format == :auto) do
    with {:ok, opts} <- options(opts, [:max_size, :dictionary]),
         {:ok, limit} <- max_size(opts) do
      case Keyword.fetch(opts, :dictionary) do
        {:ok, dict} ->
          with {:ok, ref} <- dictionary(dict, format),
               do: Native.zstd_dict_decompress(ref, data, limit)

        :error ->
          Native.decompress(data, format, limit)
      end
    end
  end

  def decompress(data, format, _opts), do: bad_args(data, format)

  @doc "Like `decompress/3` but returns the data or raises `Chunker.Error`."
  @spec decompress!(binary(), algo() | :auto, keyword()) :: binary()
  def decompress!(data, format, opts \\ []), do: bang(decompress(data, format, opts))

  @doc """
  The format of `data` from its magic bytes, or `nil`.

      iex> Chunker.Compress.detect(Chunker.Compress.compress!("a", :bzip2))
      :bzip2
      iex> Chunker.Compress.detect("plain")
      nil
  """
  @spec detect(binary()) :: algo() | nil
  def detect(data) when is_binary(data), do: Native.compress_detect(data)
  def detect(data), do: bad_args(data, :auto)

  @doc """
  Compresses every binary of `items`, in parallel on several threads when
  they total 256 KiB or more. Returns one `{:ok, binary}` or
  `{:error, reason}` per item, in order (an invalid option gives every item
  the same error). Options: `:level`.

      iex> Chunker.Compress.compress_batch(["a", "b"], :lz4) |> Enum.map(&elem(&1, 0))
      [:ok, :ok]
  """
  @spec compress_batch([binary()], algo(), keyword()) :: [{:ok, binary()} | {:error, reason()}]
  def compress_batch(items, algo, opts \\ [])

  def compress_batch(items, algo, opts) when is_list(items) and algo in @algos do
    check_binaries!(items)

    with {:ok, opts} <- options(opts, [:level]),
         {:ok, level} <- level(algo, opts) do
      Native.compress_batch(items, algo, level)
    else
      error -> Enum.map(items, fn _ -> error end)
    end
  end

  def compress_batch(items, algo, _opts), do: bad_list(items, algo)

  @doc """
  Decompresses every binary of `items` (like `compress_batch/3`), each with
  the limit `:max_size`.

      iex> items = Chunker.Compress.compress_batch(["abc", "de"], :zstd) |> Enum.map(&elem(&1, 1))
      iex> Chunker.Compress.decompress_batch(items ++ ["junk"], :zstd, max_size: 2)
      [{:error, {:size_exceeded, 2}}, {:ok, "de"}, {:error, {:corrupt, :zstd}}]
  """
  @spec decompress_batch([binary()], algo(), keyword()) :: [{:ok, binary()} | {:error, reason()}]
  def decompress_batch(items, algo, opts \\ [])

  def decompress_batch(items, algo, opts) when is_list(items) and algo in @algos do
    check_binaries!(items)

    with {:ok, opts} <- options(opts, [:max_size]),
         {:ok, limit} <- max_size(opts) do
      Native.decompress_batch(items, algo, limit)
    else
      error -> Enum.map(items, fn _ -> error end)
    end
  end

  def decompress_batch(items, algo, _opts), do: bad_list(items, algo)

  @doc """
  Opens a streaming encoder (one frame/stream for the whole input). Feed
  it with `update/2`, end with `finish/1`. Options: `:level`.

      iex> {:ok, enc} = Chunker.Compress.open_compress(:zstd, level: 1)
      iex> {:ok, a} = Chunker.Compress.update(enc, "hello ")
      iex> {:ok, b} = Chunker.Compress.update(enc, "world")
      iex> {:ok, c} = Chunker.Compress.finish(enc)
      iex> Chunker.Compress.decompress(a <> b <> c, :zstd)
      {:ok, "hello world"}
  """
  @spec open_compress(algo(), keyword()) :: {:ok, handle()} | {:error, reason()}
  def open_compress(algo, opts \\ [])

  def open_compress(algo, opts) when algo in @algos do
    with {:ok, opts} <- options(opts, [:level]),
         {:ok, level} <- level(algo, opts) do
      Native.compress_encoder_open(algo, level)
    end
  end

  def open_compress(algo, _opts), do: bad_args("", algo)

  @doc """
  Opens a streaming decoder with the limit `:max_size` over the whole
  stream; `:auto` detects the format from the first bytes.

      iex> {:ok, dec} = Chunker.Compress.open_decompress(:auto, max_size: 8)
      iex> packed = Chunker.Compress.compress!("0123456789", :lz4)
      iex> {:ok, _} = Chunker.Compress.update(dec, binary_part(packed, 0, 3))
      iex> Chunker.Compress.update(dec, binary_part(packed, 3, byte_size(packed) - 3))
      {:error, {:size_exceeded, 8}}
  """
  @spec open_decompress(algo() | :auto, keyword()) :: {:ok, handle()} | {:error, reason()}
  def open_decompress(format, opts \\ [])

  def open_decompress(format, opts) when format in @algos or format == :auto do
    with {:ok, opts} <- options(opts, [:max_size]),
         {:ok, limit} <- max_size(opts) do
      Native.compress_decoder_open(format, limit)
    end
  end

  def open_decompress(format, _opts), do: bad_args("", format)

  @doc """
  Feeds the next piece to a streaming encoder or decoder; returns the
  output ready so far (possibly empty). After an error a decoder is
  finished.
  """
  @spec update(handle(), binary()) :: {:ok, binary()} | {:error, reason()}
  def update(handle, data) when is_reference(handle) and is_binary(data),
    do: handle |> Native.compress_stream_update(data) |> check_handle(handle)

  def update(handle, data) do
    raise ArgumentError,
          "expected a handle from open_compress/2 or open_decompress/2 and a binary, got: " <>
            "#{inspect(handle, limit: 5)}, #{inspect(data, limit: 5)}"
  end

  @doc """
  Ends a stream and returns the rest of the output. For a decoder, a
  truncated stream is `{:error, {:corrupt, algo}}`. A second call is
  `{:error, :finished}`.
  """
  @spec finish(handle()) :: {:ok, binary()} | {:error, reason()}
  def finish(handle) when is_reference(handle),
    do: handle |> Native.compress_stream_finish() |> check_handle(handle)

  def finish(handle), do: check_handle(:not_a_handle, handle)

  defp check_handle(:not_a_handle, handle) do
    raise ArgumentError,
          "expected a handle from Chunker.Compress.open_compress/2 or open_decompress/2, got: " <>
            inspect(handle, limit: 5)
  end

  defp check_handle(result, _handle), do: result

  @doc """
  Lazily compresses an enumerable of binaries (e.g. `File.stream!(path, [],
  1_048_576)`) into compressed pieces. Raises `Chunker.Error` on failure.

      iex> ["nix ", "store"] |> Chunker.Compress.compress_stream(:bzip2) |> Enum.join() |> Chunker.Compress.decompress!(:bzip2)
      "nix store"
  """
  @spec compress_stream(Enumerable.t(), algo(), keyword()) :: Enumerable.t()
  def compress_stream(enumerable, algo, opts \\ []),
    do: transform(enumerable, fn -> bang(open_compress(algo, opts)) end)

  @doc """
  Lazily decompresses an enumerable of compressed pieces, with the limit
  `:max_size` over the whole stream. Raises `Chunker.Error` on failure
  (corrupt, truncated or over the limit).

      iex> packed = Chunker.Compress.compress!("abcdef", :zstd)
      iex> for(<<b::binary-1 <- packed>>, do: b) |> Chunker.Compress.decompress_stream(:auto) |> Enum.join()
      "abcdef"
  """
  @spec decompress_stream(Enumerable.t(), algo() | :auto, keyword()) :: Enumerable.t()
  def decompress_stream(enumerable, format, opts \\ []),
    do: transform(enumerable, fn -> bang(open_decompress(format, opts)) end)

  defp transform(enumerable, open) do
    eof = make_ref()

    Stream.transform(
      Stream.concat(enumerable, [eof]),
      open,
      fn
        ^eof, handle -> {nonempty(bang(finish(handle))), handle}
        data, handle -> {nonempty(bang(update(handle, data))), handle}
      end,
      fn _handle -> :ok end
    )
  end

  defp nonempty(<<>>), do: []
  defp nonempty(data), do: [data]

  @doc """
  Trains a zstd dictionary from sample chunks (dozens at least; small
  chunks of similar data gain most). Options: `:size` (maximum dictionary
  size, default 112_640 bytes as in `zstd --train`).

  Returns the raw dictionary, to store and to load with `load_dictionary/2`.
  """
  @spec train_dictionary([binary()], keyword()) :: {:ok, binary()} | {:error, reason()}
  def train_dictionary(samples, opts \\ [])

  def train_dictionary(samples, opts) when is_list(samples) do
    check_binaries!(samples)

    with {:ok, opts} <- options(opts, [:size]) do
      case Keyword.get(opts, :size, 112_640) do
        size when is_integer(size) and size >= 256 and size <= 16_777_216 ->
          Native.zstd_dict_train(samples, size)

        other ->
          {:error,
           {:invalid_options, {:size, "must be in 256..16777216, got: #{inspect(other)}"}}}
      end
    end
  end

  def train_dictionary(samples, _opts),
    do: raise(ArgumentError, "expected a list of binaries, got: #{inspect(samples, limit: 5)}")

  @doc """
  Prepares a raw dictionary (from `train_dictionary/2`, or any bytes as
  raw content) for compression at `:level` (default 3) and decompression.
  Use it with the `:dictionary` option of `compress/3` and `decompress/3`.

      iex> {:ok, dict} = Chunker.Compress.load_dictionary(String.duplicate("/nix/store/", 50))
      iex> {:ok, packed} = Chunker.Compress.compress("/nix/store/abc", :zstd, dictionary: dict)
      iex> Chunker.Compress.decompress(packed, :zstd, dictionary: dict)
      {:ok, "/nix/store/abc"}
  """
  @spec load_dictionary(binary(), keyword()) :: {:ok, Dictionary.t()} | {:error, reason()}
  def load_dictionary(raw, opts \\ [])

  def load_dictionary(raw, opts) when is_binary(raw) do
    with {:ok, opts} <- options(opts, [:level]),
         {:ok, level} <- level(:zstd, opts),
         {:ok, ref} <- Native.zstd_dict_load(raw, level) do
      {id, level, size} = Native.zstd_dict_info(ref)
      {:ok, %Dictionary{ref: ref, id: id, level: level, size: size}}
    end
  end

  def load_dictionary(raw, _opts),
    do: raise(ArgumentError, "expected a binary dictionary, got: #{inspect(raw, limit: 5)}")

  # --- options ---

  defp options(opts, allowed) when is_list(opts) do
    case bad_entry(opts, allowed) do
      nil ->
        {:ok, opts}

      {:unknown, key} ->
        invalid(key, "unknown option (allowed: #{Enum.map_join(allowed, ", ", &inspect/1)})")

      {:entry, other} ->
        invalid(:opts, "not a keyword list entry: #{inspect(other, limit: 5)}")
    end
  end

  defp options(opts, _),
    do: invalid(:opts, "must be a keyword list, got: #{inspect(opts, limit: 5)}")

  defp level(algo, opts) do
    case Keyword.get(opts, :level, Map.fetch!(@levels, algo)) do
      level when is_integer(level) and algo == :none -> {:ok, 0}
      level when is_integer(level) and abs(level) < 1_000_000 -> {:ok, level}
      other -> invalid(:level, "must be an integer, got: #{inspect(other, limit: 5)}")
    end
  end

  defp max_size(opts) do
    case Keyword.get_lazy(opts, :max_size, &default_max_size/0) do
      n when is_integer(n) and n >= 0 and n < @max_u64 ->
        {:ok, n}

      other ->
        invalid(:max_size, "must be a non-negative integer, got: #{inspect(other, limit: 5)}")
    end
  end

  # The first entry that is not an allowed `{key, value}` (improper lists too).
  defp bad_entry([], _allowed), do: nil

  defp bad_entry([{key, _} | rest], allowed) when is_atom(key) do
    if key in allowed, do: bad_entry(rest, allowed), else: {:unknown, key}
  end

  defp bad_entry([other | _], _allowed), do: {:entry, other}
  defp bad_entry(tail, _allowed), do: {:entry, tail}

  defp min_savings(x) when is_number(x) and x >= 0 and x <= 1, do: {:ok, x / 1}
  defp min_savings(x), do: invalid(:min_savings, "must be a number in 0..1, got: #{inspect(x)}")

  defp target_algo(algo) when algo in @algos, do: {:ok, algo}

  defp target_algo(algo),
    do: invalid(:algo, "must be one of #{inspect(@algos)}, got: #{inspect(algo, limit: 5)}")

  defp dictionary(%Dictionary{ref: ref}, :zstd), do: {:ok, ref}

  defp dictionary(%Dictionary{}, algo),
    do: invalid(:dictionary, "only for :zstd, not #{inspect(algo)}")

  defp dictionary(other, _),
    do:
      invalid(
        :dictionary,
        "expected a Chunker.Compress.Dictionary, got: #{inspect(other, limit: 5)}"
      )

  defp invalid(field, why), do: {:error, {:invalid_options, {field, why}}}

  defp check_binaries!(items) do
    unless binaries?(items),
      do: raise(ArgumentError, "expected a list of binaries, got: #{inspect(items, limit: 5)}")
  end

  defp binaries?([]), do: true
  defp binaries?([item | rest]) when is_binary(item), do: binaries?(rest)
  defp binaries?(_), do: false

  defp bad_list(items, algo) when is_list(items), do: bad_args("", algo)
  defp bad_list(items, _), do: bad_args(items, nil)

  defp bad_args(data, algo) when is_binary(data) do
    raise ArgumentError,
          "unknown algorithm #{inspect(algo, limit: 5)}, expected one of " <>
            inspect(@algos ++ [:auto])
  end

  defp bad_args(data, _algo),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(data, limit: 5)}")

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
