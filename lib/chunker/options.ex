defmodule Chunker.Options do
  @moduledoc false
  # Turns the chunking keyword list into the NIF's arguments. Types are checked
  # here; ranges are checked by the Rust core (one source of truth).

  @defaults [
    min_size: 131_072,
    avg_size: 524_288,
    max_size: 2_097_152,
    normalization: 1,
    hash: :sha256,
    payloads: false
  ]

  @doc false
  def defaults, do: @defaults

  @doc false
  @spec chunking(keyword(), [atom()]) ::
          {:ok, {tuple(), atom(), boolean()}} | {:error, {:invalid_options, term()}}
  def chunking(opts, extra_keys \\ [])

  def chunking(opts, extra_keys) when is_list(opts) do
    if proper_list?(opts),
      do: merge(opts, extra_keys),
      else: invalid(:opts, "must be a proper keyword list, got: #{inspect(opts, limit: 5)}")
  end

  def chunking(opts, _),
    do: invalid(:opts, "must be a keyword list, got: #{inspect(opts, limit: 5)}")

  @doc false
  # Whether `term` is a proper list (Enum and NIF list decoding fail on
  # `[a | b]`), for the argument checks of every public module.
  @spec proper_list?(term()) :: boolean()
  def proper_list?([]), do: true
  def proper_list?([_ | tail]), do: proper_list?(tail)
  def proper_list?(_), do: false

  defp merge(opts, extra_keys) do
    app_defaults = Application.get_env(:chunker, :chunking, [])

    with :ok <- check_keys(opts, Keyword.keys(@defaults) ++ extra_keys),
         opts = Keyword.merge(@defaults, Keyword.merge(app_defaults, opts)),
         {:ok, sizes} <- sizes(opts),
         {:ok, hash} <- hash(opts[:hash]),
         {:ok, payloads} <- boolean(:payloads, opts[:payloads]) do
      {:ok, {sizes, hash, payloads}}
    end
  end

  defp check_keys(opts, allowed) do
    case Enum.find(opts, fn
           {key, _} when is_atom(key) -> key not in allowed
           _ -> true
         end) do
      nil ->
        :ok

      {key, _} ->
        invalid(key, "unknown option (allowed: #{Enum.map_join(allowed, ", ", &inspect/1)})")

      other ->
        invalid(:opts, "not a keyword list entry: #{inspect(other, limit: 5)}")
    end
  end

  defp sizes(opts) do
    fields = [:min_size, :avg_size, :max_size, :normalization]

    # Every NIF decodes these as u64: anything else must not reach it.
    case Enum.find(fields, &(not u64?(opts[&1]))) do
      nil ->
        {:ok, List.to_tuple(Enum.map(fields, &opts[&1]))}

      field ->
        invalid(
          field,
          "must be a non-negative integer below 2^64, got: #{inspect(opts[field], limit: 5)}"
        )
    end
  end

  defp u64?(v), do: is_integer(v) and v >= 0 and v < 18_446_744_073_709_551_616

  defp hash(algo) when algo in [:sha256, :blake3, :none], do: {:ok, algo}

  defp hash(other),
    do: invalid(:hash, "must be :sha256, :blake3 or :none, got: #{inspect(other, limit: 5)}")

  defp boolean(_field, value) when is_boolean(value), do: {:ok, value}

  defp boolean(field, value),
    do: invalid(field, "must be a boolean, got: #{inspect(value, limit: 5)}")

  defp invalid(field, why), do: {:error, {:invalid_options, {field, why}}}
end
