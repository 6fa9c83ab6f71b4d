defmodule Chunker.Nix.Key do
  @moduledoc """
  Nix binary-cache signing keys and signatures (Ed25519).

  Keys are `name:base64` strings exactly as
  `nix-store --generate-binary-cache-key NAME sec pub` writes them: a
  secret key is the 64-byte keypair (seed, then public key), a public key
  32 bytes. A signature is `name:base64(64 bytes)`; a signature verifies
  only under a trusted key of the same name.

  A secret key's bytes live only inside the NIF (a resource, zeroized when
  garbage collected): `%Chunker.Nix.Key.Secret{}` holds a reference, its
  name and its public key, and `inspect/1` shows only those. `format/1` is
  the one explicit way to get the secret string back (to store it).

  Errors: `{:invalid_key, reason}` and `{:invalid_signature, reason}` with
  `reason` one of `:missing_colon`, `:empty_name`, `:invalid_name`,
  `:bad_base64`, `{:wrong_length, bytes}`, `:invalid_point`,
  `:mismatched_public_key`, `:not_utf8`. They never contain key material.
  """

  alias Chunker.{Native, Options}
  alias Chunker.Nix.Narinfo

  defmodule Public do
    @moduledoc "A public key: its name, its Nix string and the parsed key (a NIF resource)."
    @enforce_keys [:name, :key, :ref]
    defstruct [:name, :key, :ref]
    @type t :: %__MODULE__{name: String.t(), key: String.t(), ref: reference()}
  end

  defmodule Secret do
    @moduledoc """
    A secret key: its name, its public key and a reference to the key held
    by the NIF. Inspecting it never shows secret material.
    """
    @enforce_keys [:name, :public, :ref]
    defstruct [:name, :public, :ref]
    @type t :: %__MODULE__{name: String.t(), public: Chunker.Nix.Key.Public.t(), ref: reference()}

    defimpl Inspect do
      def inspect(%{name: name, public: public}, _opts),
        do: "#Chunker.Nix.Key.Secret<#{name}, public: #{public.key}>"
    end
  end

  @type reason :: {:invalid_key | :invalid_signature, atom() | {atom(), term()}}

  # Sign/verify messages up to this size on a normal scheduler.
  @normal_max 65_536

  @doc """
  Generates a new key named `name` (non-empty, without `:`, whitespace or
  control characters) from the operating system's random generator.

      iex> {:ok, key} = Chunker.Nix.Key.generate("cache.example.org-1")
      iex> key.name
      "cache.example.org-1"
      iex> Chunker.Nix.Key.generate("a:b")
      {:error, {:invalid_key, :invalid_name}}
  """
  @spec generate(String.t()) :: {:ok, Secret.t()} | {:error, reason()}
  def generate(name) when is_binary(name), do: secret(Native.key_generate(name))
  def generate(name), do: raise(ArgumentError, "expected a name string, got: #{inspect(name)}")

  @doc "Like `generate/1` but returns the key or raises `Chunker.Error`."
  @spec generate!(String.t()) :: Secret.t()
  def generate!(name), do: bang(generate(name))

  @doc """
  Parses a secret key `name:base64(64 bytes)` (a trailing newline, as in
  Nix's key files, is allowed). The public half must match the seed.

      iex> Chunker.Nix.Key.parse_secret("k:AAAA")
      {:error, {:invalid_key, {:wrong_length, 3}}}
  """
  @spec parse_secret(String.t()) :: {:ok, Secret.t()} | {:error, reason()}
  def parse_secret(string) when is_binary(string), do: secret(Native.key_parse_secret(string))
  # The argument may be key material: never put it in the message.
  def parse_secret(_), do: raise(ArgumentError, "expected the secret key as a string")

  @doc "Like `parse_secret/1` but returns the key or raises `Chunker.Error`."
  @spec parse_secret!(String.t()) :: Secret.t()
  def parse_secret!(string), do: bang(parse_secret(string))

  @doc """
  Parses a public key `name:base64(32 bytes)`.

      iex> {:ok, key} = Chunker.Nix.Key.parse_public("cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=")
      iex> key.name
      "cache.nixos.org-1"
      iex> Chunker.Nix.Key.parse_public("cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShj")
      {:error, {:invalid_key, :bad_base64}}
  """
  @spec parse_public(String.t()) :: {:ok, Public.t()} | {:error, reason()}
  def parse_public(string) when is_binary(string) do
    with {:ok, tuple} <- Native.key_parse_public(string), do: {:ok, public(tuple)}
  end

  def parse_public(other),
    do: raise(ArgumentError, "expected a public key string, got: #{inspect(other, limit: 5)}")

  @doc "Like `parse_public/1` but returns the key or raises `Chunker.Error`."
  @spec parse_public!(String.t()) :: Public.t()
  def parse_public!(string), do: bang(parse_public(string))

  @doc """
  The key in Nix's format, as `nix-store --generate-binary-cache-key`
  writes it (without the newline). For a secret key this returns the secret.

      iex> {:ok, key} = Chunker.Nix.Key.parse_public("cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=")
      iex> Chunker.Nix.Key.format(key)
      "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
  """
  @spec format(Secret.t() | Public.t()) :: String.t()
  def format(%Secret{ref: ref}), do: Native.key_format_secret(ref)
  def format(%Public{key: key}), do: key

  def format(other),
    do: raise(ArgumentError, "expected a key struct, got: #{inspect(other, limit: 5)}")

  @doc """
  The public key of a secret key.

      iex> key = Chunker.Nix.Key.generate!("k")
      iex> Chunker.Nix.Key.public_key(key).name
      "k"
  """
  @spec public_key(Secret.t()) :: Public.t()
  def public_key(%Secret{public: public}), do: public

  def public_key(other),
    do:
      raise(
        ArgumentError,
        "expected a %Chunker.Nix.Key.Secret{}, got: #{inspect(other, limit: 5)}"
      )

  @doc """
  Signs a fingerprint (any binary), returning the signature `name:base64`;
  or signs a `Chunker.Nix.Narinfo`, returning it with the signature added
  (see `Chunker.Nix.Narinfo.sign/2`).

      iex> key = Chunker.Nix.Key.generate!("k")
      iex> sig = Chunker.Nix.Key.sign("1;/nix/store/...", key)
      iex> Chunker.Nix.Key.verify("1;/nix/store/...", sig, [Chunker.Nix.Key.public_key(key)])
      true
  """
  @spec sign(binary() | Narinfo.t(), Secret.t()) ::
          String.t() | {:ok, Narinfo.t()} | {:error, term()}
  def sign(%Narinfo{} = narinfo, %Secret{} = key), do: Narinfo.sign(narinfo, key)

  def sign(message, %Secret{ref: ref}) when is_binary(message) do
    if byte_size(message) <= @normal_max,
      do: Native.key_sign(ref, message),
      else: Native.key_sign_dirty(ref, message)
  end

  def sign(message, _key) do
    raise ArgumentError,
          "expected a binary or a narinfo and a %Chunker.Nix.Key.Secret{}, got: " <>
            inspect(message, limit: 5)
  end

  @doc """
  Whether a signature (or any of a list of them) of `message` verifies with
  a trusted key of the same name. Malformed signatures never verify (use
  `parse_signature/1` to see why). With a narinfo, see
  `Chunker.Nix.Narinfo.verify/2`. Trusted keys are `Public` structs or
  strings (parsed on each call).
  """
  @spec verify(binary() | Narinfo.t(), String.t() | [String.t()] | [Public.t() | String.t()]) ::
          boolean()
  def verify(%Narinfo{} = narinfo, trusted), do: Narinfo.verify(narinfo, trusted)

  def verify(other, _trusted) do
    raise ArgumentError,
          "expected a %Chunker.Nix.Narinfo{} (or use verify/3 with a message), got: " <>
            inspect(other, limit: 5)
  end

  @spec verify(binary(), String.t() | [String.t()], [Public.t() | String.t()]) :: boolean()
  def verify(message, signatures, trusted) when is_binary(message) do
    sigs = List.wrap(signatures)

    unless Options.proper_list?(sigs) and Enum.all?(sigs, &is_binary/1),
      do: raise(ArgumentError, "expected signature strings, got: #{inspect(sigs, limit: 5)}")

    refs = refs(trusted)

    if byte_size(message) <= @normal_max and length(sigs) * length(refs) <= 8,
      do: Native.key_verify(message, sigs, refs),
      else: Native.key_verify_dirty(message, sigs, refs)
  end

  def verify(message, _signatures, _trusted),
    do: raise(ArgumentError, "expected a binary message, got: #{inspect(message, limit: 5)}")

  @doc """
  Parses a signature `name:base64(64 bytes)` into its name and raw bytes.

      iex> Chunker.Nix.Key.parse_signature("k:" <> Base.encode64(<<0::512>>))
      {:ok, {"k", <<0::512>>}}
      iex> Chunker.Nix.Key.parse_signature("k:AAAA")
      {:error, {:invalid_signature, {:wrong_length, 3}}}
  """
  @spec parse_signature(String.t()) :: {:ok, {String.t(), binary()}} | {:error, reason()}
  def parse_signature(string) when is_binary(string), do: Native.key_parse_signature(string)

  def parse_signature(other),
    do: raise(ArgumentError, "expected a signature string, got: #{inspect(other, limit: 5)}")

  @doc false
  # NIF references of trusted keys (structs or strings).
  def refs(trusted) when is_list(trusted) do
    unless Options.proper_list?(trusted),
      do:
        raise(ArgumentError, "expected a list of public keys, got: #{inspect(trusted, limit: 5)}")

    Enum.map(trusted, fn
      %Public{ref: ref} -> ref
      s when is_binary(s) -> parse_public!(s).ref
      other -> raise ArgumentError, "expected a public key, got: #{inspect(other, limit: 5)}"
    end)
  end

  def refs(other),
    do: raise(ArgumentError, "expected a list of public keys, got: #{inspect(other, limit: 5)}")

  defp secret({:ok, {ref, name, public}}),
    do: {:ok, %Secret{name: name, public: public(public), ref: ref}}

  defp secret({:error, _} = error), do: error

  defp public({ref, name, key}), do: %Public{name: name, key: key, ref: ref}

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
