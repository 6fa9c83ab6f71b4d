defmodule Chunker.Nix.Narinfo do
  @moduledoc """
  Narinfo files (`<hash>.narinfo` in a binary cache): parse, serialize,
  fingerprint, sign and verify, as Nix does.

  Parsing is tolerant of unknown fields (kept in `extra`, written back
  last) and strict on malformed known ones:
  `{:error, {:narinfo, line, reason}}` with the 1-based line (0 for the
  whole file, e.g. `{:missing, "URL"}`). Hashes are normalized to
  `sha256:<base32>`; `references` and `deriver` are base names
  (`<hash>-<name>`) as in the file; a missing `Compression` is `"bzip2"`
  and `Deriver: unknown-deriver` is `nil`, as in Nix. Serializing a parsed
  narinfo is stable: Nix's field order, then unknown fields.

  Reasons: `:not_utf8`, `:missing_colon`, `:empty_field`, `{:duplicate, field}`,
  `{:missing, field}`, `{:invalid_store_path, {field, detail}}`,
  `{:invalid_hash, {field, detail}}`, `{:invalid_integer, field}`,
  `{:empty, field}`, `{:newline, field}` (serializing).
  """

  alias Chunker.Native
  alias Chunker.Nix.Key

  defstruct store_path: nil,
            url: nil,
            compression: "bzip2",
            file_hash: nil,
            file_size: nil,
            nar_hash: nil,
            nar_size: nil,
            references: [],
            deriver: nil,
            system: nil,
            sigs: [],
            ca: nil,
            extra: []

  @type t :: %__MODULE__{
          store_path: String.t() | nil,
          url: String.t() | nil,
          compression: String.t(),
          file_hash: String.t() | nil,
          file_size: non_neg_integer() | nil,
          nar_hash: String.t() | nil,
          nar_size: non_neg_integer() | nil,
          references: [String.t()],
          deriver: String.t() | nil,
          system: String.t() | nil,
          sigs: [String.t()],
          ca: String.t() | nil,
          extra: [{String.t(), String.t()}]
        }

  @type reason :: {:narinfo, non_neg_integer(), term()} | :zero_nar_size | :not_sha256

  @normal_max 65_536

  @doc ~S"""
  Parses narinfo text.

      iex> text = "StorePath: /nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10\nURL: nar/x.nar\nNarHash: sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i\nNarSize: 205968\n"
      iex> {:ok, n} = Chunker.Nix.Narinfo.parse(text)
      iex> {n.nar_size, n.compression, n.references}
      {205968, "bzip2", []}
      iex> Chunker.Nix.Narinfo.parse(String.replace(text, "NarSize: 205968", "NarSize: -1"))
      {:error, {:narinfo, 4, {:invalid_integer, "NarSize"}}}
  """
  @spec parse(binary()) :: {:ok, t()} | {:error, reason()}
  def parse(text) when is_binary(text) do
    if byte_size(text) <= @normal_max,
      do: Native.narinfo_parse(text),
      else: Native.narinfo_parse_dirty(text)
  end

  def parse(other),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(other, limit: 5)}")

  @doc "Like `parse/1` but returns the narinfo or raises `Chunker.Error`."
  @spec parse!(binary()) :: t()
  def parse!(text), do: bang(parse(text))

  @doc ~S"""
  Serializes a narinfo in Nix's field order (unknown fields last).

      iex> text = "StorePath: /nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10\nURL: nar/x.nar\nCompression: none\nNarHash: sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i\nNarSize: 205968\nReferences: \n"
      iex> Chunker.Nix.Narinfo.serialize(Chunker.Nix.Narinfo.parse!(text))
      {:ok, text}
  """
  @spec serialize(t()) :: {:ok, String.t()} | {:error, reason()}
  def serialize(%__MODULE__{} = narinfo), do: call(&Native.narinfo_serialize/1, narinfo)

  def serialize(other),
    do:
      raise(ArgumentError, "expected a %Chunker.Nix.Narinfo{}, got: #{inspect(other, limit: 5)}")

  @doc "Like `serialize/1` but returns the text or raises `Chunker.Error`."
  @spec serialize!(t()) :: String.t()
  def serialize!(narinfo), do: bang(serialize(narinfo))

  @doc """
  The fingerprint Nix signs:
  `1;<store path>;<nar hash as sha256:base32>;<nar size>;<sorted full reference paths, comma-separated>`.

      iex> n = %Chunker.Nix.Narinfo{store_path: "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10", url: "x",
      ...>   nar_hash: "sha256-" <> Base.encode64(<<0::256>>), nar_size: 1,
      ...>   references: ["w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10", "9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.31"]}
      iex> Chunker.Nix.Narinfo.fingerprint(n)
      {:ok, "1;/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10;sha256:0000000000000000000000000000000000000000000000000000;1;/nix/store/9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.31,/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"}
      iex> Chunker.Nix.Narinfo.fingerprint(%{n | nar_size: 0})
      {:error, :zero_nar_size}
  """
  @spec fingerprint(t()) :: {:ok, String.t()} | {:error, reason()}
  def fingerprint(%__MODULE__{} = narinfo), do: call(&Native.narinfo_fingerprint/1, narinfo)

  def fingerprint(other),
    do:
      raise(ArgumentError, "expected a %Chunker.Nix.Narinfo{}, got: #{inspect(other, limit: 5)}")

  @doc """
  Signs the narinfo's fingerprint with `key` and adds the `Sig` (once).

      iex> key = Chunker.Nix.Key.generate!("test-1")
      iex> n = %Chunker.Nix.Narinfo{store_path: "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10",
      ...>   url: "x", nar_hash: "sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i", nar_size: 205968}
      iex> {:ok, signed} = Chunker.Nix.Narinfo.sign(n, key)
      iex> [sig] = signed.sigs
      iex> {String.starts_with?(sig, "test-1:"), Chunker.Nix.Narinfo.verify(signed, [Chunker.Nix.Key.public_key(key)])}
      {true, true}
  """
  @spec sign(t(), Key.Secret.t()) :: {:ok, t()} | {:error, reason()}
  def sign(%__MODULE__{} = narinfo, %Key.Secret{} = key) do
    with {:ok, fp} <- fingerprint(narinfo) do
      sig = Key.sign(fp, key)
      sigs = if sig in narinfo.sigs, do: narinfo.sigs, else: narinfo.sigs ++ [sig]
      {:ok, %{narinfo | sigs: sigs}}
    end
  end

  def sign(narinfo, _key) do
    raise ArgumentError,
          "expected a %Chunker.Nix.Narinfo{} and a %Chunker.Nix.Key.Secret{}, got: " <>
            inspect(narinfo, limit: 5)
  end

  @doc "Like `sign/2` but returns the signed narinfo or raises `Chunker.Error`."
  @spec sign!(t(), Key.Secret.t()) :: t()
  def sign!(narinfo, key), do: bang(sign(narinfo, key))

  @doc """
  Whether any `Sig` verifies with a trusted key of the same name (as Nix
  requires). A narinfo that cannot be fingerprinted does not verify.
  Trusted keys are `Chunker.Nix.Key.Public` structs or `name:base64` strings.
  """
  @spec verify(t(), [Key.Public.t() | String.t()]) :: boolean()
  def verify(%__MODULE__{sigs: sigs} = narinfo, trusted) when is_list(sigs) do
    refs = Key.refs(trusted)

    if length(sigs) * length(refs) <= 8,
      do: call(&Native.narinfo_verify(&1, refs), narinfo),
      else: call(&Native.narinfo_verify_dirty(&1, refs), narinfo)
  end

  def verify(narinfo, _trusted),
    do:
      raise(
        ArgumentError,
        "expected a %Chunker.Nix.Narinfo{}, got: #{inspect(narinfo, limit: 5)}"
      )

  # The NIF raises (badarg or "Could not decode field") when a field has
  # the wrong type.
  defp call(fun, narinfo) do
    fun.(narinfo)
  rescue
    _ in [ArgumentError, ErlangError] ->
      reraise ArgumentError,
              "narinfo fields have wrong types (strings, non-negative integers, lists " <>
                "of strings, nil): #{inspect(narinfo, limit: 8)}",
              __STACKTRACE__
  end

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
