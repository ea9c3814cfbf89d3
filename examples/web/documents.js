// The GraphQL documents the page sends (schema.graphql has every field).

export const CREATE_QUESTIONNAIRE = `mutation CreateQuestionnaire($input: QuestionnaireInput!) {
  createQuestionnaire(input: $input) { id position }
}`;

export const UPLOAD_RESUME = `mutation UploadResume($questionnaireId: ID!, $file: Upload!) {
  uploadResume(questionnaireId: $questionnaireId, file: $file) {
    resume { id filename format sizeBytes }
    job { id kind state }
  }
}`;

// Two mutations in one document: each field is nullable, so a refused one (a quota, say) leaves
// the other's job in the answer.
export const ANALYSE_AND_IMPROVE = `mutation AnalyseAndImprove($questionnaireId: ID!, $cvText: String, $prompt: String) {
  analysis: analyzeCv(questionnaireId: $questionnaireId, cvText: $cvText) { id kind state }
  rewrite: improveCv(input: { questionnaireId: $questionnaireId, cvText: $cvText, prompt: $prompt }) {
    id kind state
  }
}`;

export const RENDER_PDF = `mutation RenderPdf($responseId: ID!) { renderCvPdf(responseId: $responseId) { id kind state } }`;

// Every event of the job from its first (afterSeq: 0 replays what happened before we
// subscribed); the server completes the stream after the terminal event.
export const JOB_UPDATES = `subscription JobUpdates($jobId: ID!) {
  jobUpdates(jobId: $jobId, afterSeq: 0) { seq type state progress stage message delta error { code message } }
}`;

export const ANALYSIS_OF_JOB = `query AnalysisOfJob($id: ID!) {
  job(id: $id) {
    analysis {
      overallScore atsCompatibility wordCount missingSections
      parts { name score weight detail }
      atsIssues { issue points }
      keywordMatch { percent present { term } missing { term } }
      weakBullets { text phrase suggestions }
      readability { label fleschReadingEase }
    }
  }
}`;

export const RESPONSE_OF_JOB = `query ResponseOfJob($id: ID!) {
  job(id: $id) { response { id truncated advice unverifiedClaims { kind text } } }
}`;

export const PDF_OF_JOB = `query PdfOfJob($id: ID!) { job(id: $id) { pdf { url pages sizeBytes } } }`;
