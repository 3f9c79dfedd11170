-- wrk script: POST a different pre-generated body on every request.
-- args: <bodies file> <Authorization value or ""> <Content-Type> <"line" | "nul" separator>
local bodies = {}
local idx = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local sep = (args[4] == "nul") and "\0" or "\n"
  local pos = 1
  while pos <= #data do
    local stop = string.find(data, sep, pos, true)
    if stop == nil then stop = #data + 1 end
    if stop > pos then bodies[#bodies + 1] = string.sub(data, pos, stop - 1) end
    pos = stop + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = args[3]
  if args[2] ~= "" then wrk.headers["Authorization"] = args[2] end
end

function request()
  idx = idx + 1
  if idx > #bodies then idx = 1 end  -- wrapped bodies replay: the harness checks the valid count
  return wrk.format(nil, nil, nil, bodies[idx])
end
