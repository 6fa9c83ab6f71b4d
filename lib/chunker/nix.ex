defmodule Chunker.Nix do
  @moduledoc """
  Nix's encodings, exactly as Nix prints and parses them.

    * Nix base-32 (alphabet `0123456789abcdfghijklmnpqrsvwxyz`, Nix's bit
      order; not RFC 4648).
    * Hash strings: `algo:base32`, `algo:base16`, `algo:base64` and SRI
      `algo-base64`, for md5, sha1, sha256 and sha512. A hash is a tuple
      `{algo, raw_digest}`.
    * Store paths `/nix/store/<32 base-32 chars>-<name>` and fixed-output
      store paths computed as Nix's `makeStorePath` does.

  Errors are `{:error, {:invalid_base32 | :invalid_hash | :invalid_store_path, detail}}`;
  bang variants raise `Chunker.Error`.
  """

  alias Chunker.Native

  # Inputs up to this size are handled on a normal scheduler (well under 1 ms).
  @normal_max 65_536

  @typedoc "A hash algorithm Nix knows."
  @type algo :: :md5 | :sha1 | :sha256 | :sha512
  @typedoc "A hash: the algorithm and the raw digest."
  @type hash :: {algo(), binary()}
  @typedoc "How a hash is printed."
  @type encoding :: :base16 | :base32 | :base64 | :sri

  @algos [:md5, :sha1, :sha256, :sha512]
  @encodings [:base16, :base32, :base64, :sri]
  @sizes %{md5: 16, sha1: 20, sha256: 32, sha512: 64}

  @doc """
  Encodes bytes in Nix base-32.

      iex> Chunker.Nix.base32_encode(:crypto.hash(:sha256, ""))
      "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
  """
  @spec base32_encode(binary()) :: String.t()
  def base32_encode(bytes) when is_binary(bytes) and byte_size(bytes) <= @normal_max,
    do: Native.base32_encode(bytes)

  def base32_encode(bytes) when is_binary(bytes), do: Native.base32_encode_dirty(bytes)
  def base32_encode(other), do: raise(ArgumentError, "expected a binary, got: #{inspect(other)}")

  @doc """
  Decodes Nix base-32, rejecting bad characters, impossible lengths and
  non-zero leftover bits.

      iex> Chunker.Nix.base32_decode("7z")
      {:ok, <<255>>}
      iex> Chunker.Nix.base32_decode("8z")
      {:error, {:invalid_base32, :non_zero_padding}}
      iex> Chunker.Nix.base32_decode("0e")
      {:error, {:invalid_base32, {:invalid_char, {"e", 1}}}}
      iex> Chunker.Nix.base32_decode("000")
      {:error, {:invalid_base32, {:invalid_length, 3}}}
  """
  @spec base32_decode(String.t()) :: {:ok, binary()} | {:error, term()}
  def base32_decode(string) when is_binary(string) and byte_size(string) <= @normal_max,
    do: Native.base32_decode(string)

  def base32_decode(string) when is_binary(string), do: Native.base32_decode_dirty(string)
  def base32_decode(other), do: raise(ArgumentError, "expected a string, got: #{inspect(other)}")

  @doc "Like `base32_decode/1` but returns the bytes or raises `Chunker.Error`."
  @spec base32_decode!(String.t()) :: binary()
  def base32_decode!(string), do: bang(base32_decode(string))

  @doc """
  Parses a hash string in any form Nix accepts: `algo:<base16|base32|base64>`
  or SRI `algo-<base64>`. With `algo` given, a bare digest is accepted too and
  a prefix must name that algorithm.

      iex> {:ok, {:sha256, digest}} = Chunker.Nix.parse_hash("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
      iex> digest == :crypto.hash(:sha256, "")
      true
      iex> Chunker.Nix.parse_hash("d41d8cd98f00b204e9800998ecf8427e", :md5)
      {:ok, {:md5, :crypto.hash(:md5, "")}}
      iex> Chunker.Nix.parse_hash("sha256:abc")
      {:error, {:invalid_hash, {:invalid_length, 3}}}
      iex> Chunker.Nix.parse_hash("blake2:00")
      {:error, {:invalid_hash, {:unknown_algo, "blake2"}}}
  """
  @spec parse_hash(String.t(), algo() | nil) :: {:ok, hash()} | {:error, term()}
  def parse_hash(string, algo \\ nil)

  def parse_hash(string, algo) when is_binary(string) and (algo in @algos or is_nil(algo)) do
    if byte_size(string) <= @normal_max,
      do: Native.hash_parse(string, algo),
      else: Native.hash_parse_dirty(string, algo)
  end

  def parse_hash(string, algo) do
    raise ArgumentError,
          "expected a string and an algorithm in #{inspect(@algos)} or nil, got: " <>
            "#{inspect(string, limit: 5)}, #{inspect(algo)}"
  end

  @doc "Like `parse_hash/2` but returns the hash or raises `Chunker.Error`."
  @spec parse_hash!(String.t(), algo() | nil) :: hash()
  def parse_hash!(string, algo \\ nil), do: bang(parse_hash(string, algo))

  @doc """
  Prints a hash. `encoding` is `:base32` (default), `:base16`, `:base64` or
  `:sri`; `prefix: false` leaves out the `algo:` prefix (SRI always has it).

      iex> h = {:sha256, :crypto.hash(:sha256, "")}
      iex> Chunker.Nix.format_hash(h)
      "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
      iex> Chunker.Nix.format_hash(h, :sri)
      "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
      iex> Chunker.Nix.format_hash(h, :base16, prefix: false)
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  """
  @spec format_hash(hash(), encoding(), keyword()) :: String.t()
  def format_hash(hash, encoding \\ :base32, opts \\ [])

  def format_hash({algo, digest} = hash, encoding, opts)
      when algo in @algos and is_binary(digest) and encoding in @encodings and is_list(opts) do
    if byte_size(digest) != @sizes[algo],
      do:
        raise(ArgumentError, "a #{algo} digest has #{@sizes[algo]} bytes, got: #{inspect(hash)}")

    {:ok, s} = Native.hash_format(algo, digest, encoding, Keyword.get(opts, :prefix, true))
    s
  end

  def format_hash(hash, encoding, _opts) do
    raise ArgumentError,
          "expected {algo, digest} with algo in #{inspect(@algos)} and an encoding in " <>
            "#{inspect(@encodings)}, got: #{inspect(hash, limit: 5)}, #{inspect(encoding)}"
  end

  @doc """
  Parses a hash in any form and prints it in `encoding`.

      iex> Chunker.Nix.convert_hash("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", :base32)
      {:ok, "sha1:143xibwh31h9bvxzalr0sjvbbvpa6ffs"}
  """
  @spec convert_hash(String.t(), encoding(), keyword()) :: {:ok, String.t()} | {:error, term()}
  def convert_hash(string, encoding, opts \\ [])

  def convert_hash(string, encoding, opts) when is_list(opts) do
    unless Keyword.keyword?(opts),
      do: raise(ArgumentError, "expected a keyword list, got: #{inspect(opts, limit: 5)}")

    with {:ok, hash} <- parse_hash(string, Keyword.get(opts, :algo)) do
      {:ok, format_hash(hash, encoding, opts)}
    end
  end

  def convert_hash(_string, _encoding, opts),
    do: raise(ArgumentError, "expected a keyword list, got: #{inspect(opts, limit: 5)}")

  @doc """
  Parses and validates a store path `/nix/store/<hash>-<name>` with Nix's
  rules: 32 base-32 characters, then a name of 1 to 211 characters from
  `A-Z a-z 0-9 + - . _ ? =`.

      iex> Chunker.Nix.parse_store_path("/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10")
      {:ok, {"w9yy7v61ipb5rx6i35zq1mvc2iqfmps1", "hello-2.10"}}
      iex> Chunker.Nix.parse_store_path("/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello world")
      {:error, {:invalid_store_path, {:invalid_name_char, " "}}}
  """
  @spec parse_store_path(String.t()) :: {:ok, {String.t(), String.t()}} | {:error, term()}
  def parse_store_path(path) when is_binary(path) and byte_size(path) <= @normal_max,
    do: Native.store_path_parse(path)

  def parse_store_path(path) when is_binary(path), do: Native.store_path_parse_dirty(path)

  def parse_store_path(other),
    do: raise(ArgumentError, "expected a string, got: #{inspect(other)}")

  @doc "Like `parse_store_path/1` but returns `{hash_part, name}` or raises `Chunker.Error`."
  @spec parse_store_path!(String.t()) :: {String.t(), String.t()}
  def parse_store_path!(path), do: bang(parse_store_path(path))

  @doc """
  Whether `path` is a valid store path.

      iex> Chunker.Nix.store_path?("/nix/store/eeee7v61ipb5rx6i35zq1mvc2iqfmps1-x")
      false
  """
  @spec store_path?(term()) :: boolean()
  def store_path?(path), do: is_binary(path) and match?({:ok, _}, parse_store_path(path))

  @doc """
  The store path of a fixed-output path with content hash `hash`, as
  `nix-store --add-fixed` computes it: `hash` is of the file's contents, or
  with `recursive: true` of its NAR (see `nar_hash/1`). `references:` (full
  store paths) are allowed only for recursive sha256 paths.

      iex> {:ok, h} = Chunker.Nix.parse_hash("sha256:98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4")
      iex> Chunker.Nix.fixed_output_path("a", h)
      {:ok, "/nix/store/hrvjkyf8i9yx8dmgfbqlsr7xlxa6wmfw-a"}
      iex> Chunker.Nix.fixed_output_path("a b", h)
      {:error, {:invalid_store_path, {:invalid_name_char, " "}}}
  """
  @spec fixed_output_path(String.t(), hash(), keyword()) :: {:ok, String.t()} | {:error, term()}
  def fixed_output_path(name, hash, opts \\ [])

  def fixed_output_path(name, {algo, digest}, opts)
      when is_binary(name) and algo in @algos and is_binary(digest) and is_list(opts) do
    recursive = Keyword.get(opts, :recursive, false)
    refs = Keyword.get(opts, :references, [])

    unless is_boolean(recursive) and is_list(refs) and Enum.all?(refs, &is_binary/1),
      do: raise(ArgumentError, "expected recursive: boolean and references: [String.t()]")

    Native.fixed_output_path(name, algo, digest, recursive, refs)
  end

  def fixed_output_path(name, hash, _opts) do
    raise ArgumentError,
          "expected a name and {algo, digest}, got: #{inspect(name)}, #{inspect(hash, limit: 5)}"
  end

  @doc "Like `fixed_output_path/3` but returns the path or raises `Chunker.Error`."
  @spec fixed_output_path!(String.t(), hash(), keyword()) :: String.t()
  def fixed_output_path!(name, hash, opts \\ []), do: bang(fixed_output_path(name, hash, opts))

  @doc """
  The SHA-256 of the NAR serialisation of `path` in Nix base-32, exactly
  what `nix-hash --type sha256 --base32 PATH` prints. The NAR is streamed
  (bounded memory) on a DirtyIo scheduler. Errors are `{:file, posix}` and
  `{:unsupported_file_type, path}`.

      iex> path = Path.join(System.tmp_dir!(), "nix_doc_#{System.unique_integer([:positive])}")
      iex> File.write!(path, "hello")
      iex> result = Chunker.Nix.nar_hash(path)
      iex> File.rm!(path)
      iex> result
      {:ok, "0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa"}
      iex> Chunker.Nix.nar_hash("/nonexistent")
      {:error, {:file, :enoent}}
  """
  @spec nar_hash(Path.t()) :: {:ok, String.t()} | {:error, term()}
  def nar_hash(path) do
    with {:ok, {hash, _size}} <- nar_sha256(path) do
      {:ok, format_hash(hash, :base32, prefix: false)}
    end
  end

  @doc "Like `nar_hash/1` but returns the hash or raises `Chunker.Error`."
  @spec nar_hash!(Path.t()) :: String.t()
  def nar_hash!(path), do: bang(nar_hash(path))

  @doc """
  The NAR hash of `path` as a hash tuple, and the NAR's size: the `NarHash`
  and `NarSize` of a narinfo.

      iex> path = Path.join(System.tmp_dir!(), "nix_doc_#{System.unique_integer([:positive])}")
      iex> File.write!(path, "hello")
      iex> {:ok, {hash, size}} = Chunker.Nix.nar_sha256(path)
      iex> File.rm!(path)
      iex> {Chunker.Nix.format_hash(hash), size}
      {"sha256:0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa", 120}
  """
  @spec nar_sha256(Path.t()) :: {:ok, {hash(), non_neg_integer()}} | {:error, term()}
  def nar_sha256(path) do
    path =
      try do
        IO.chardata_to_string(path)
      rescue
        _ -> raise ArgumentError, "expected a path, got: #{inspect(path, limit: 5)}"
      end

    with {:ok, {digest, size}} <- Native.nar_sha256(path) do
      {:ok, {{:sha256, digest}, size}}
    end
  end

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
