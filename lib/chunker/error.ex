defmodule Chunker.Error do
  @moduledoc """
  Raised by the bang (`!`) functions. `reason` is the term the non-bang
  function returns in `{:error, reason}`.
  """
  defexception [:reason]

  @type t :: %__MODULE__{reason: term()}

  @impl true
  def message(%__MODULE__{reason: reason}), do: describe(reason)

  defp describe({:invalid_options, {field, why}}) when is_binary(why),
    do: "invalid option #{inspect(field)}: #{why}"

  defp describe({:file, posix}) when is_atom(posix),
    do: "file error: #{:file.format_error(posix)} (#{inspect(posix)})"

  defp describe(reason), do: "chunker error: #{inspect(reason, limit: 20, printable_limit: 200)}"
end
