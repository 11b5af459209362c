// The Vercel AI SDK as a client of llmrelay, for tests/clients/test_node.py.
//
//   node tests/node/client.mjs <scenario> <provider> <base_url> <model>
//
// scenario: stream-tools (streamText with a tool the SDK executes, its result fed back),
// required-tool (one step whose call is required) or generate-object (generateObject with a
// zod schema). provider: openai-chat and
// openai-responses (@ai-sdk/openai's two models), compatible (@ai-sdk/openai-compatible).
// Prints one JSON object on stdout: what the SDK saw, for the Python test to assert on.
import { generateObject, stepCountIs, streamText, tool } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { z } from "zod";

const [scenario, providerName, baseUrl, modelId] = process.argv.slice(2);
if (!scenario || !providerName || !baseUrl || !modelId) {
  console.error("usage: client.mjs <scenario> <provider> <base_url> <model>");
  process.exit(2);
}
const baseURL = `${baseUrl}/v1`;
const apiKey = "sk-client-test"; // llmrelay runs without keys in these tests

function model() {
  switch (providerName) {
    case "openai-chat":
      return createOpenAI({ baseURL, apiKey }).chat(modelId);
    case "openai-responses":
      return createOpenAI({ baseURL, apiKey }).responses(modelId);
    case "compatible":
      return createOpenAICompatible({
        name: "llmrelay",
        baseURL,
        apiKey,
        supportsStructuredOutputs: true,
        includeUsage: true,
      })(modelId);
    default:
      throw new Error(`unknown provider ${providerName}`);
  }
}

const ran = [];
const getWeather = tool({
  description: "The current weather in a city.",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    ran.push(city);
    return `Sunny and 21 °C in ${city}.`;
  },
});

// The loop: the model calls, the SDK runs the tool and sends the result, the model answers.
// With `required`, one step: a call is certain (the embedded model's grammar), and the run
// ends with the tool's result.
async function streamTools(required) {
  const result = streamText({
    model: model(),
    prompt: "What is the weather in Paris?",
    tools: { get_weather: getWeather },
    ...(required ? { toolChoice: "required", stopWhen: stepCountIs(1), temperature: 0 } : { stopWhen: stepCountIs(3) }),
    maxRetries: 0,
  });
  const parts = [];
  for await (const part of result.fullStream) {
    if (part.type === "error") throw part.error;
    parts.push(part.type);
  }
  const steps = await result.steps;
  return {
    text: await result.text,
    ran,
    parts: [...new Set(parts)],
    textDeltas: parts.filter((p) => p === "text-delta").length,
    steps: steps.map((s) => ({
      finishReason: s.finishReason,
      toolCalls: s.toolCalls.map((c) => ({ id: c.toolCallId, name: c.toolName, input: c.input })),
      toolResults: s.toolResults.map((r) => ({ id: r.toolCallId, output: r.output })),
    })),
    usage: await result.totalUsage,
  };
}

async function generateCity() {
  const { object, finishReason } = await generateObject({
    model: model(),
    schema: z.object({ name: z.string(), country: z.string() }),
    schemaName: "City",
    prompt: "Describe Paris.",
    temperature: 0,
    maxRetries: 0,
  });
  return { object, finishReason };
}

const scenarios = {
  "stream-tools": () => streamTools(false),
  "required-tool": () => streamTools(true),
  "generate-object": generateCity,
};
try {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  console.log(JSON.stringify(await run()));
} catch (error) {
  // One line the test shows whole: the SDK's message, and the server's answer if it had one.
  console.error(JSON.stringify({ error: String(error?.message ?? error), body: error?.responseBody }));
  process.exit(1);
}
